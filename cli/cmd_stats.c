/* cmd_stats.c - z4vc stats: what the store holds and how well it packs. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>

static int json;

const cli_cmd cli_cmd_stats = {
	.name = "stats",
	.usage = "[--json]",
	.summary = "show store size, object counts and compression per dtype",
	.opts = (const cli_opt[]){
		{"json", 0, OPT_FLAG, &json, NULL, "print JSON"},
		{0},
	},
};

int cmd_stats(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	z4vc_stats st;
	char b1[32], b2[32];
	int rc = 1;

	cli_parse_noargs(&cli_cmd_stats, argc, argv);
	if (cli_open_repo(&repo) || z4vc_stats_get(&st, repo)) {
		cli_fail("stats");
		goto done;
	}
	if (json) {
		cJSON *o = cJSON_CreateObject(), *d = cJSON_CreateArray();
		cJSON_AddNumberToObject(o, "format", st.format);
		cJSON_AddNumberToObject(o, "chunks", (double)st.chunks);
		cJSON_AddNumberToObject(o, "tensors", (double)st.tensors);
		cJSON_AddNumberToObject(o, "recipes", (double)st.recipes);
		cJSON_AddNumberToObject(o, "keyframes", (double)st.keyframes);
		cJSON_AddNumberToObject(o, "deltas", (double)st.deltas);
		cJSON_AddNumberToObject(o, "raw_bytes", (double)st.raw_bytes);
		cJSON_AddNumberToObject(o, "stored_bytes", (double)st.stored_bytes);
		cJSON_AddNumberToObject(o, "file_bytes", (double)st.file_bytes);
		cJSON_AddNumberToObject(o, "used_bytes", (double)st.used_bytes);
		for (size_t i = 0; i < st.ndtypes; i++) {
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "dtype", st.dtypes[i].dtype);
			cJSON_AddNumberToObject(e, "tensors", (double)st.dtypes[i].tensors);
			cJSON_AddNumberToObject(e, "chunks", (double)st.dtypes[i].chunks);
			cJSON_AddNumberToObject(e, "raw_bytes", (double)st.dtypes[i].raw_bytes);
			cJSON_AddNumberToObject(e, "stored_bytes",
						(double)st.dtypes[i].stored_bytes);
			cJSON_AddItemToArray(d, e);
		}
		cJSON_AddItemToObject(o, "dtypes", d);
		cli_print_json(o);
	} else {
		printf("store format %u: %llu chunks (%llu keyframes, %llu deltas), "
		       "%llu tensors, %llu files\n",
		       st.format, (unsigned long long)st.chunks,
		       (unsigned long long)st.keyframes, (unsigned long long)st.deltas,
		       (unsigned long long)st.tensors, (unsigned long long)st.recipes);
		printf("data %s raw -> %s stored (%.2fx); LMDB file %s, %s in use\n",
		       cli_bytes(b1, sizeof(b1), st.raw_bytes),
		       cli_bytes(b2, sizeof(b2), st.stored_bytes),
		       st.stored_bytes ? (double)st.raw_bytes / (double)st.stored_bytes : 0.0,
		       cli_bytes(b1, sizeof(b1), st.file_bytes),
		       cli_bytes(b2, sizeof(b2), st.used_bytes));
		printf("%-8s %8s %8s %12s %12s %7s\n", "dtype", "tensors", "chunks", "raw",
		       "stored", "ratio");
		for (size_t i = 0; i < st.ndtypes; i++) {
			const z4vc_dtype_stat *d = &st.dtypes[i];
			printf("%-8s %8llu %8llu %12s %12s %6.2fx\n", d->dtype,
			       (unsigned long long)d->tensors, (unsigned long long)d->chunks,
			       cli_bytes(b1, sizeof(b1), d->raw_bytes),
			       cli_bytes(b2, sizeof(b2), d->stored_bytes),
			       d->stored_bytes ? (double)d->raw_bytes / (double)d->stored_bytes
					       : 0.0);
		}
	}
	rc = 0;
done:
	z4vc_repo_free(repo);
	return rc;
}
