/*
 * cli_remote.c - what fetch, push, pull and pre-push share: the list of
 * oids their commits need, the "[<remote> [<rev>...]]" arguments, and one
 * transfer with its progress bar.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "z4vc_remote.h"

int cli_strlist_push(cli_strlist *l, const char *s)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		char **nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = nc;
	}
	if (!(l->v[l->n] = strdup(s)))
		return -1;
	l->n++;
	return 0;
}

void cli_strlist_dispose(cli_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (cli_strlist){0};
}

int cli_strlist_add_oid(void *ud, const z4vc_pointer *p, const char *path)
{
	(void)path;
	return cli_strlist_push(ud, p->oid);
}

void cli_remote_args_parse(cli_remote_args *out, char **argv, int npos,
                           const char *action)
{
	static const char *const head[] = {"HEAD"};
	out->remote = npos >= 1 ? argv[1] : NULL;
	out->revs = head;
	out->nrevs = 1;
	if (npos >= 2) {
		out->revs = (const char *const *)argv + 2;
		out->nrevs = (size_t)npos - 1;
	}
	snprintf(out->what, sizeof(out->what), "%s '%s'", action,
	         out->remote ? out->remote : "default remote");
}

int cli_remote_transfer(z4vc_repo *repo, cli_transfer_fn fn,
                        const char *remote, const cli_strlist *oids,
                        const char *verb)
{
	cli_progress prog;
	int rc;
	cli_progress_init(&prog, verb);
	rc = fn(repo, remote, (const char *const *)oids->v, oids->n,
	        cli_progress_cb, &prog);
	cli_progress_end(&prog);
	return rc;
}
