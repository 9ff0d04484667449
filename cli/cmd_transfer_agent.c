/*
 * cmd_transfer_agent.c - z4vc transfer-agent: a Git LFS standalone custom
 * transfer agent, so a repository can keep the git-lfs client while its
 * objects live in a z4vc remote. One JSON object per line on stdin (init,
 * upload, download, terminate), replies and progress events on stdout;
 * a failed object gets an error in its "complete" reply, the agent goes on.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "z4vc_remote.h"

#define LINE_MAX_BYTES (1u << 20)
#define PROGRESS_STEP (8u << 20)

const cli_cmd cli_cmd_transfer_agent = {
	.name = "transfer-agent",
	.usage = "",
	.summary = "Git LFS standalone transfer agent backed by a z4vc remote",
	.details =
		"Run by git-lfs, not by hand. Configure a repository with:\n"
		"  git config lfs.standalonetransferagent z4vc\n"
		"  git config lfs.customtransfer.z4vc.path z4vc\n"
		"  git config lfs.customtransfer.z4vc.args transfer-agent\n"
		"  git config lfs.customtransfer.z4vc.concurrent false\n"
		"Uploads store each file in z4vc (tensor by tensor for safetensors) and\n"
		"push its objects; downloads fetch, verify and rebuild the file.",
	.opts = (const cli_opt[]){{0}},
};

static void send_json(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		cJSON_free(s);
	}
	cJSON_Delete(o);
}

static void send_complete(const char *oid, const char *path, int code,
                          const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "event", "complete");
	cJSON_AddStringToObject(o, "oid", oid);
	if (path)
		cJSON_AddStringToObject(o, "path", path);
	if (msg) {
		cJSON *e = cJSON_AddObjectToObject(o, "error");
		cJSON_AddNumberToObject(e, "code", code);
		cJSON_AddStringToObject(e, "message", msg);
	}
	send_json(o);
}

static void send_progress(const char *oid, uint64_t so_far, uint64_t since)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "event", "progress");
	cJSON_AddStringToObject(o, "oid", oid);
	cJSON_AddNumberToObject(o, "bytesSoFar", (double)so_far);
	cJSON_AddNumberToObject(o, "bytesSinceLast", (double)since);
	send_json(o);
}

typedef struct {
	int fd;
	const char *oid;
	uint64_t done, reported;
} fd_src;

static ssize_t read_fd(void *ud, void *buf, size_t len)
{
	fd_src *s = ud;
	ssize_t n;
	do
		n = read(s->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		s->done += (uint64_t)n;
		if (s->done - s->reported >= PROGRESS_STEP) {
			send_progress(s->oid, s->done, s->done - s->reported);
			s->reported = s->done;
		}
	}
	return n;
}

static int write_fd(void *ud, const void *buf, size_t len)
{
	fd_src *s = ud;
	int rc = cli_write_all(s->fd, buf, len);
	if (rc)
		return rc;
	s->done += (uint64_t)len;
	if (s->done - s->reported >= PROGRESS_STEP) {
		send_progress(s->oid, s->done, s->done - s->reported);
		s->reported = s->done;
	}
	return 0;
}

static int valid_oid(const char *oid)
{
	if (strlen(oid) != 64)
		return 0;
	for (int i = 0; i < 64; i++)
		if (!((oid[i] >= '0' && oid[i] <= '9') ||
		      (oid[i] >= 'a' && oid[i] <= 'f')))
			return 0;
	return 1;
}

static void do_upload(z4vc_repo *repo, const char *remote, const char *oid,
                      const char *path)
{
	z4vc_store_opts o = {.allow_opaque = 1};
	z4vc_pointer p;
	fd_src s = {.oid = oid};
	char msg[1024], full[80];
	const char *oids[1] = {full};

	snprintf(full, sizeof(full), "sha256:%s", oid);
	if (z4vc_has_file(repo, full) != 1) {
		if ((s.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			snprintf(msg, sizeof(msg), "open '%s': %s", path,
			         strerror(errno));
			send_complete(oid, NULL, 2, msg);
			return;
		}
		/* Parsed as safetensors when it is one, kept as bytes if not.
		 */
		if (z4vc_store_stream(&p, repo, "object.safetensors", read_fd,
		                      &s, &o)) {
			close(s.fd);
			snprintf(msg, sizeof(msg), "store: %s", z4vc_error());
			send_complete(oid, NULL, 2, msg);
			return;
		}
		close(s.fd);
		if (strcmp(p.oid, full) != 0) {
			send_complete(oid, NULL, 2,
			              "file does not match its oid");
			return;
		}
	}
	if (z4vc_remote_push(repo, remote, oids, 1, NULL, NULL)) {
		snprintf(msg, sizeof(msg), "push: %s", z4vc_error());
		send_complete(oid, NULL, 2, msg);
		return;
	}
	if (s.done > s.reported)
		send_progress(oid, s.done, s.done - s.reported);
	send_complete(oid, NULL, 0, NULL);
}

static void do_download(z4vc_repo *repo, const char *remote, const char *oid,
                        uint64_t size)
{
	fd_src s = {.oid = oid};
	char msg[1024], full[80], *tmp;
	const char *oids[1] = {full};
	size_t n = strlen(z4vc_repo_dir(repo)) + 64;

	snprintf(full, sizeof(full), "sha256:%s", oid);
	if (z4vc_remote_fetch(repo, remote, oids, 1, NULL, NULL)) {
		snprintf(msg, sizeof(msg), "fetch: %s", z4vc_error());
		send_complete(oid, NULL,
		              z4vc_has_file(repo, full) == 0 ? 404 : 2, msg);
		return;
	}
	if (!(tmp = malloc(n))) {
		send_complete(oid, NULL, 2, "out of memory");
		return;
	}
	snprintf(tmp, n, "%s/tmp", z4vc_repo_dir(repo));
	mkdir(tmp, 0777);
	snprintf(tmp, n, "%s/tmp/lfs-XXXXXX", z4vc_repo_dir(repo));
	if ((s.fd = mkstemp(tmp)) < 0) {
		snprintf(msg, sizeof(msg), "create '%s': %s", tmp,
		         strerror(errno));
		send_complete(oid, NULL, 2, msg);
		free(tmp);
		return;
	}
	if (z4vc_cat_file(repo, full, size, write_fd, &s)) {
		snprintf(msg, sizeof(msg), "%s", z4vc_error());
		close(s.fd);
		unlink(tmp);
		send_complete(oid, NULL, 2, msg);
		free(tmp);
		return;
	}
	close(s.fd);
	if (s.done > s.reported)
		send_progress(oid, s.done, s.done - s.reported);
	send_complete(oid, tmp, 0, NULL);
	free(tmp);
}

int cmd_transfer_agent(int argc, char **argv)
{
	z4vc_repo *repo = NULL;
	char *line = NULL, *remote = NULL;
	size_t cap = 0;
	ssize_t len;
	int n, rc = 0;

	cli_parse(&cli_cmd_transfer_agent, argc, argv, &n);
	if (n)
		cli_usage_error(&cli_cmd_transfer_agent,
		                "no arguments expected");
	while ((len = getline(&line, &cap, stdin)) > 0) {
		cJSON *j, *ev;
		const char *event;
		if ((size_t)len > LINE_MAX_BYTES) {
			fprintf(
			    stderr,
			    "z4vc: transfer-agent: request line too long\n");
			rc = 1;
			break;
		}
		j = cJSON_ParseWithLength(line, (size_t)len);
		ev = j ? cJSON_GetObjectItemCaseSensitive(j, "event") : NULL;
		event = cJSON_IsString(ev) ? ev->valuestring : "";
		if (strcmp(event, "init") == 0) {
			cJSON *r =
			    cJSON_GetObjectItemCaseSensitive(j, "remote");
			cJSON *reply = cJSON_CreateObject();
			free(remote);
			remote = cJSON_IsString(r) && r->valuestring[0]
			             ? strdup(r->valuestring)
			             : NULL;
			if (!repo && z4vc_repo_init(&repo, cli_chdir)) {
				cJSON *e =
				    cJSON_AddObjectToObject(reply, "error");
				cJSON_AddNumberToObject(e, "code", 32);
				cJSON_AddStringToObject(e, "message",
				                        z4vc_error());
			}
			send_json(reply);
		} else if (strcmp(event, "upload") == 0 ||
		           strcmp(event, "download") == 0) {
			cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "oid");
			cJSON *sz = cJSON_GetObjectItemCaseSensitive(j, "size");
			cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "path");
			const char *oid =
			    cJSON_IsString(o) ? o->valuestring : "";
			if (!repo)
				send_complete(oid, NULL, 32,
				              "no init before transfer");
			else if (!valid_oid(oid) || !cJSON_IsNumber(sz) ||
			         sz->valuedouble < 0)
				send_complete(
				    oid, NULL, 2,
				    "malformed request (oid or size)");
			else if (event[0] == 'u' &&
			         !(cJSON_IsString(p) && p->valuestring[0]))
				send_complete(oid, NULL, 2,
				              "upload without a path");
			else if (event[0] == 'u')
				do_upload(repo, remote, oid, p->valuestring);
			else
				do_download(repo, remote, oid,
				            (uint64_t)sz->valuedouble);
		} else if (strcmp(event, "terminate") == 0) {
			cJSON_Delete(j);
			break;
		} else {
			fprintf(stderr, "z4vc: transfer-agent: unknown or malformed request\n");
		}
		cJSON_Delete(j);
	}
	free(line);
	free(remote);
	z4vc_repo_free(repo);
	return rc;
}
