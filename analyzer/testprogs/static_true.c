// Linked statically: the dynamic loader never runs, so LD_PRELOAD is never read and sockleak
// tracks nothing. 'sockleak run' must say so rather than report a clean run.
int main(void)
{
	return 0;
}
