/* An embedding program that runs CPython three times in one process (Py_Initialize, a script,
 * Py_Finalize): each round makes 300 code objects that make and close a socket, then keeps one
 * socket made by make_<round> at line 3, which the round's Py_Finalize leaves to the garbage
 * collector. Prints "round N done" after each Py_Finalize. tests/test_python.py compiles it. */
#include <Python.h>
#include <stdio.h>

static const char *script = "import socket\n"
			    "def make_%d():\n"
			    "    return socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
			    "for i in range(300):\n"
			    "    exec(compile('def f():\\n    import socket\\n    return socket.socket()\\n',\n"
			    "                 'gen%%d.py' %% i, 'exec'))\n"
			    "    f().close()\n"
			    "keep = make_%d()\n";

int main(void)
{
	char text[1024];
	for (int round = 1; round <= 3; round++) {
		Py_Initialize();
		snprintf(text, sizeof(text), script, round, round);
		if (PyRun_SimpleString(text) != 0)
			return 10 + round;
		if (Py_FinalizeEx() != 0)
			return 20 + round;
		printf("round %d done\n", round);
		fflush(stdout);
	}
	return 0;
}
