#include "sarif.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/flags.h"
#include "../core/report.h"

#define SCHEMA_URI "https://json.schemastore.org/sarif-2.1.0.json"

/* ---- URIs ---- */

/* Percent-encodes a path for a URI: unreserved characters and '/' stay as they are. */
static char *encode_path(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *out = malloc(n * 3 + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* An artifactLocation: relative to SRCROOT when the path is relative or under the source root,
 * else an absolute file: URI. */
static json_t *artifact(const char *path, const char *root)
{
	json_t *a = json_object();
	size_t rl = root ? strlen(root) : 0;
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	const char *rel = NULL;
	if (path[0] != '/')
		rel = path;
	else if (rl > 0 && strncmp(path, root, rl) == 0 && path[rl] == '/')
		rel = path + rl + 1;
	while (rel && rel[0] == '.' && rel[1] == '/')
		rel += 2;
	char *enc = encode_path(rel ? rel : path);
	if (!enc)
		return a;
	if (rel) {
		json_object_set_new(a, "uri", json_string(enc));
		json_object_set_new(a, "uriBaseId", json_string("SRCROOT"));
	} else {
		char *uri = malloc(strlen(enc) + 8);
		if (uri) {
			sprintf(uri, "file://%s", enc);
			json_object_set_new(a, "uri", json_string(uri));
			free(uri);
		}
	}
	free(enc);
	return a;
}

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A location from a native frame ({function, file, line, module, pc}) or a Python frame
 * ({file, line, function}); NULL when the frame names no file at all. */
static json_t *frame_location(const json_t *fr, const char *root)
{
	const char *file = str(fr, "file"), *module = str(fr, "module"), *function = str(fr, "function");
	json_int_t line = json_integer_value(json_object_get(fr, "line"));
	if (!file && !module)
		return NULL;
	json_t *loc = json_object();
	json_t *phys = json_object();
	json_object_set_new(phys, "artifactLocation", artifact(file ? file : module, root));
	if (file && line >= 1) {
		json_t *region = json_object();
		json_object_set_new(region, "startLine", json_integer(line));
		json_object_set_new(phys, "region", region);
	}
	json_object_set_new(loc, "physicalLocation", phys);
	if (function) {
		json_t *ll = json_object();
		json_object_set_new(ll, "fullyQualifiedName", json_string(function));
		json_object_set_new(ll, "kind", json_string("function"));
		json_object_set_new(loc, "logicalLocations", json_pack("[o]", ll));
	}
	return loc;
}

/* The frame a result points at: the innermost Python frame with a file, else the innermost
 * native frame with source information, else the first frame with a module. */
static json_t *primary_location(const json_t *t, const char *root)
{
	const json_t *py = json_object_get(t, "python_traceback");
	for (size_t k = json_array_size(py); k-- > 0;)
		if (str(json_array_get(py, k), "file"))
			return frame_location(json_array_get(py, k), root);
	const json_t *frames = json_object_get(t, "opened_at");
	for (size_t i = 0; i < json_array_size(frames); i++)
		if (str(json_array_get(frames, i), "file"))
			return frame_location(json_array_get(frames, i), root);
	for (size_t i = 0; i < json_array_size(frames); i++) {
		json_t *loc = frame_location(json_array_get(frames, i), root);
		if (loc)
			return loc;
	}
	return NULL;
}

static json_t *stack(const char *what, const json_t *frames, const json_t *py, const char *root)
{
	json_t *s = json_object();
	json_t *jf = json_array();
	json_object_set_new(s, "message", json_pack("{s:s}", "text", what));
	/* Innermost first, as SARIF wants: Python frames (outermost first in the report) reversed. */
	for (size_t k = json_array_size(py); k-- > 0;) {
		json_t *sf = json_object();
		json_t *loc = frame_location(json_array_get(py, k), root);
		if (loc)
			json_object_set_new(sf, "location", loc);
		json_array_append_new(jf, sf);
	}
	for (size_t i = 0; i < json_array_size(frames); i++) {
		const json_t *fr = json_array_get(frames, i);
		json_t *sf = json_object();
		json_t *loc = frame_location(fr, root);
		if (loc)
			json_object_set_new(sf, "location", loc);
		if (str(fr, "module"))
			json_object_set_new(sf, "module", json_string(str(fr, "module")));
		if (str(fr, "pc"))
			json_object_set_new(sf, "properties", json_pack("{s:s}", "pc", str(fr, "pc")));
		json_array_append_new(jf, sf);
	}
	json_object_set_new(s, "frames", jf);
	return s;
}

/* ---- rules ---- */

static void camel(const char *id, char *out, size_t size)
{
	size_t n = 0;
	int up = 1;
	for (; *id && n + 1 < size; id++) {
		if (*id == '-') {
			up = 1;
			continue;
		}
		out[n++] = up && *id >= 'a' && *id <= 'z' ? (char)(*id - 32) : *id;
		up = 0;
	}
	out[n] = '\0';
}

static json_t *rules(void)
{
	json_t *a = json_array();
	for (int f = 0; f < SL_FLAG_COUNT; f++) {
		const struct sl_flag_info *fi = &sl_flag_table[f];
		char name[64];
		camel(fi->id, name, sizeof(name));
		json_t *r = json_object();
		json_object_set_new(r, "id", json_string(fi->id));
		json_object_set_new(r, "name", json_string(name));
		json_object_set_new(r, "shortDescription", json_pack("{s:s}", "text", fi->summary));
		json_object_set_new(r, "fullDescription", json_pack("{s:s}", "text", fi->summary));
		json_object_set_new(r, "defaultConfiguration",
				    json_pack("{s:s}", "level", fi->severity == SL_SEV_ERROR ? "error" : "warning"));
		json_object_set_new(r, "properties", json_pack("{s:[s,s]}", "tags", "reliability", "resource-leak"));
		json_array_append_new(a, r);
	}
	return a;
}

/* ---- results ---- */

/* "tcp4 client fd 5, 127.0.0.1:40312 -> 127.0.0.1:8080", from the transport's JSON. */
static void describe(const json_t *t, char *buf, size_t size)
{
	const char *kind = str(t, "kind"), *role = str(t, "role"), *local = str(t, "local"), *peer = str(t, "peer");
	json_t *fd = json_object_get(t, "fd");
	size_t n = (size_t)snprintf(buf, size, "%s%s%s", kind ? kind : "transport", role ? " " : "", role ? role : "");
	if (n < size && json_is_integer(fd))
		n += (size_t)snprintf(buf + n, size - n, " fd %lld", (long long)json_integer_value(fd));
	if (n < size && local && peer)
		snprintf(buf + n, size - n, ", %s -> %s", local, peer);
	else if (n < size && local)
		snprintf(buf + n, size - n, ", %s", local);
}

static json_t *result(const json_t *doc, const json_t *t, const json_t *f, const struct sl_gate *gate,
		      const char *root)
{
	const char *flag = str(f, "flag"), *severity = str(f, "severity");
	int rule = flag ? sl_flag_by_id(flag, (unsigned)strlen(flag)) : -1;
	char what[600];
	describe(t, what, sizeof(what));
	json_int_t p = json_integer_value(json_object_get(t, "process"));
	const json_t *proc = json_array_get(json_object_get(doc, "processes"), (size_t)p);
	const char *prog = json_string_value(json_array_get(json_object_get(proc, "argv"), 0));
	char *text = NULL;
	if (asprintf(&text, "%s: %s (in %s, pid %lld)", what, str(f, "detail") ? str(f, "detail") : flag,
		     prog ? prog : "?", (long long)json_integer_value(json_object_get(t, "pid"))) < 0)
		text = NULL;

	json_t *r = json_object();
	json_object_set_new(r, "ruleId", json_string(flag ? flag : "unknown"));
	if (rule >= 0)
		json_object_set_new(r, "ruleIndex", json_integer(rule));
	json_object_set_new(r, "level", json_string(severity && !strcmp(severity, "error") ? "error" : "warning"));
	json_object_set_new(r, "kind", json_string("fail"));
	json_object_set_new(r, "message", json_pack("{s:o}", "text", sl_json_text(text ? text : what)));
	free(text);
	json_t *locs = json_array();
	json_t *loc = primary_location(t, root);
	if (loc)
		json_array_append_new(locs, loc);
	json_object_set_new(r, "locations", locs);
	const char *fp = str(f, "fingerprint");
	if (fp)
		json_object_set_new(r, "partialFingerprints", json_pack("{s:s}", "sockleakFinding/v1", fp));
	if (gate->baseline_path && str(f, "baseline"))
		json_object_set_new(r, "baselineState", json_string(str(f, "baseline")));
	json_t *stacks = json_array();
	json_array_append_new(stacks, stack("opened at", json_object_get(t, "opened_at"),
					    json_object_get(t, "python_traceback"), root));
	const json_t *reg = json_object_get(f, "registered_at");
	const json_t *reg_py = json_object_get(f, "registered_python_traceback");
	if (json_array_size(reg) || json_array_size(reg_py)) {
		int epoll = flag && (!strcmp(flag, "reader-not-removed") || !strcmp(flag, "closed-while-registered"));
		const char *how = epoll ? "registered with epoll at" : "SSL object made at";
		json_array_append_new(stacks, stack(how, reg, reg_py, root));
		json_t *rloc = NULL;
		for (size_t k = json_array_size(reg_py); !rloc && k-- > 0;)
			rloc = frame_location(json_array_get(reg_py, k), root);
		for (size_t i = 0; !rloc && i < json_array_size(reg); i++)
			if (str(json_array_get(reg, i), "file"))
				rloc = frame_location(json_array_get(reg, i), root);
		if (rloc) {
			json_object_set_new(rloc, "id", json_integer(1));
			json_object_set_new(rloc, "message", json_pack("{s:s}", "text", how));
			json_object_set_new(r, "relatedLocations", json_pack("[o]", rloc));
		}
	}
	json_object_set_new(r, "stacks", stacks);
	json_t *props = json_object();
	json_object_set_new(props, "pid", json_deep_copy(json_object_get(t, "pid")));
	json_object_set_new(props, "process", json_integer(p));
	json_object_set_new(props, "transport", sl_json_text(what));
	json_object_set_new(props, "transportId", json_deep_copy(json_object_get(t, "id")));
	if (proc)
		json_object_set_new(props, "argv", json_deep_copy(json_object_get(proc, "argv")));
	json_object_set_new(r, "properties", props);
	return r;
}

json_t *sl_sarif_build(const json_t *doc, const struct sl_run *run, const struct sl_gate *gate, const char *root)
{
	json_t *results = json_array();
	size_t i, k;
	json_t *t, *f;
	json_array_foreach(json_object_get(doc, "transports"), i, t) {
		json_array_foreach(json_object_get(t, "flags"), k, f)
			json_array_append_new(results, result(doc, t, f, gate, root));
	}
	json_t *notes = json_array();
	for (unsigned n = 0; n < run->nproblems; n++)
		json_array_append_new(notes, json_pack("{s:s, s:{s:o}}", "level", "error", "message", "text",
						       sl_json_text(run->problems[n])));
	/* Each loss of evidence, as the text report's EVIDENCE LOST lines: executionSuccessful
	 * false alone did not say what was lost. */
	for (unsigned n = 0; n < run->nlost; n++)
		json_array_append_new(notes, json_pack("{s:s, s:{s:o}}", "level", "error", "message", "text",
						       run->lost[n] ? sl_json_text(run->lost[n]) : json_string("(out of memory)")));
	if (sl_run_recorded_nothing(run))
		json_array_append_new(notes, json_pack("{s:s, s:{s:s}}", "level", "note", "message", "text",
						       SL_RUN_NOTHING_RECORDED));
	json_t *inv = json_object();
	json_object_set_new(inv, "executionSuccessful", json_boolean(run->unreadable == 0 && run->nlost == 0));
	json_object_set_new(inv, "toolExecutionNotifications", notes);
	json_t *driver = json_object();
	json_object_set_new(driver, "name", json_string("sockleak"));
	json_object_set_new(driver, "version", json_string(SOCKLEAK_VERSION));
	json_object_set_new(driver, "semanticVersion", json_string(SOCKLEAK_VERSION));
	json_object_set_new(driver, "rules", rules());
	json_t *r = json_object();
	json_object_set_new(r, "tool", json_pack("{s:o}", "driver", driver));
	json_object_set_new(r, "invocations", json_pack("[o]", inv));
	if (root && root[0] == '/') {
		size_t rl = strlen(root);
		char *enc = encode_path(root);
		char *uri = enc ? malloc(strlen(enc) + 10) : NULL;
		if (uri) {
			sprintf(uri, "file://%s%s", enc, rl && root[rl - 1] == '/' ? "" : "/");
			json_object_set_new(r, "originalUriBaseIds", json_pack("{s:{s:o}}", "SRCROOT", "uri", sl_json_text(uri)));
		}
		free(uri);
		free(enc);
	}
	json_object_set_new(r, "results", results);
	json_t *log = json_object();
	json_object_set_new(log, "$schema", json_string(SCHEMA_URI));
	json_object_set_new(log, "version", json_string("2.1.0"));
	json_object_set_new(log, "runs", json_pack("[o]", r));
	return log;
}
