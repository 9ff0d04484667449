/*
 * prune.c - thin a run's history (z4vc_prune): keep the newest N
 * checkpoints and every checkpoint whose step is a multiple of M.
 *
 * Only git changes: kept commits are recreated (same tree, author,
 * committer, message and trailers) on top of the previous kept one, and the
 * run's ref moves by compare-and-swap with a reflog entry. The store is not
 * touched, so the old history stays complete and reachable through the
 * reflog until it expires or `z4vc gc --now` expires it; gc then frees what
 * only the dropped checkpoints used.
 */
#include "repo_internal.h"
#include "z4vc_maint.h"

#include "z4_alloc.h"

#include <stdio.h>
#include <string.h>

typedef struct {
	git_oid id;
	int64_t step;
	int keep;
} ckpt;

static int config_i64(int64_t *out, z4vc_repo *repo, const char *key)
{
	git_config *cfg = NULL;
	int found = 0;
	if (git_repository_config_snapshot(&cfg, repo->git) == 0 &&
	    git_config_get_int64(out, cfg, key) == 0)
		found = 1;
	git_config_free(cfg);
	git_error_clear();
	return found;
}

/* Make sure the reflog of `ref` shows old -> new (a bare repository does
 * not log ref updates by default, and the old tip must stay a gc root). */
static int ensure_reflog(z4vc_repo *repo, const z4_reflock *lock,
                         const char *ref, const git_oid *old,
                         const git_oid *new_tip, const char *msg)
{
	git_reflog *log = NULL;
	git_signature *sig = NULL;
	size_t n;
	int rc = Z4_OK, have_old = 0, have_new = 0;

	if (git_reflog_read(&log, repo->git, ref) < 0)
		return z4_git_error(ref);
	n = git_reflog_entrycount(log);
	for (size_t i = 0; i < n; i++) {
		const git_reflog_entry *e = git_reflog_entry_byindex(log, i);
		if (git_oid_equal(git_reflog_entry_id_old(e), old) ||
		    git_oid_equal(git_reflog_entry_id_new(e), old))
			have_old = 1;
	}
	if (n) /* index 0 is the newest entry */
		have_new = git_oid_equal(
		    git_reflog_entry_id_new(git_reflog_entry_byindex(log, 0)),
		    new_tip);
	if (have_old && have_new)
		goto done;
	if (git_signature_default(&sig, repo->git) < 0 &&
	    git_signature_now(&sig, "z4vc", "z4vc@localhost") < 0) {
		rc = z4_git_error("signature");
		goto done;
	}
	git_error_clear();
	if ((!have_old && git_reflog_append(log, old, sig,
	                                    "z4vc prune: previous tip") < 0) ||
	    (!have_new && git_reflog_append(log, new_tip, sig, msg) < 0)) {
		rc = z4_git_error(ref);
		goto done;
	}
	/* the reflog has its own lock file, which a kill can leave too */
	rc = z4_reflog_write(repo, lock, log, ref);
done:
	git_signature_free(sig);
	git_reflog_free(log);
	return rc;
}

int z4vc_prune(z4vc_prune_result *out, z4vc_repo *repo,
               const z4vc_prune_opts *opts)
{
	const char *run = opts && opts->run ? opts->run : Z4VC_DEFAULT_RUN;
	int64_t keep_last = opts ? opts->keep_last : Z4VC_PRUNE_DEFAULT;
	int64_t keep_every = opts ? opts->keep_every : Z4VC_PRUNE_DEFAULT;
	int have_last, have_every;
	char ref[256], msg[128];
	git_oid tip, oid, new_tip;
	git_revwalk *w = NULL;
	git_commit *parent = NULL;
	ckpt *list = NULL;
	size_t n = 0, cap = 0;
	z4_reflock lock = {-1, 0};
	int rc = Z4_OK, intact = 1, grc;

	memset(out, 0, sizeof(*out));
	z4_error_clear();
	Z4_TRY(z4_run_ref(ref, sizeof(ref), run));
	have_last = keep_last != Z4VC_PRUNE_DEFAULT ||
	            config_i64(&keep_last, repo, "z4vc.pruneKeepLast");
	have_every = keep_every != Z4VC_PRUNE_DEFAULT ||
	             config_i64(&keep_every, repo, "z4vc.pruneKeepEvery");
	if (!have_last && !have_every)
		return z4_error_set(Z4_EINVAL,
		                    "no retention policy: give --keep-last or "
		                    "--keep-every (or set z4vc.pruneKeepLast)");
	if (!have_last)
		keep_last = 0;
	if (!have_every)
		keep_every = 0;
	if (keep_last < 0 || keep_every < 0)
		return z4_error_set(Z4_EINVAL,
		                    "keep counts must not be negative");
	if (git_reference_name_to_id(&tip, repo->git, ref) < 0) {
		git_error_clear();
		return z4_error_set(Z4_ENOTFOUND, "run '%s': no checkpoints",
		                    run);
	}
	git_oid_tostr(out->old_tip, sizeof(out->old_tip), &tip);
	memcpy(out->new_tip, out->old_tip, sizeof(out->new_tip));

	/* The run's checkpoints, newest first. */
	if (git_revwalk_new(&w, repo->git) < 0 ||
	    git_revwalk_push(w, &tip) < 0) {
		rc = z4_git_error("revwalk");
		goto done;
	}
	git_revwalk_simplify_first_parent(w);
	while (git_revwalk_next(&oid, w) == 0) {
		git_commit *c;
		char *r;
		if (git_commit_lookup(&c, repo->git, &oid) < 0) {
			rc = z4_git_error("commit");
			goto done;
		}
		if (git_commit_parentcount(c) > 1) {
			char hex[41];
			git_oid_tostr(hex, sizeof(hex), &oid);
			git_commit_free(c);
			rc = z4_error_set(Z4_EUNSUPPORTED,
			                  "run '%s': %.12s is a merge; "
			                  "prune only rewrites linear runs",
			                  run, hex);
			goto done;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			ckpt *nl = z4_realloc(list, nc * sizeof(*nl));
			if (!nl) {
				git_commit_free(c);
				rc = z4_error_set(Z4_ENOMEM, "out of memory");
				goto done;
			}
			list = nl;
			cap = nc;
		}
		list[n].id = oid;
		z4_commit_trailers(c, &r, &list[n].step);
		z4_free(r);
		git_commit_free(c);
		n++;
	}
	git_error_clear();
	/* Decide, oldest first. A commit without a step is kept: prune only
	 * drops what the policy names. */
	for (size_t k = 0; k < n; k++) {
		ckpt *c = &list[n - 1 - k];
		c->keep = k + (uint64_t)keep_last >= n ||
		          c->step == Z4VC_NO_STEP ||
		          (keep_every > 0 && c->step % keep_every == 0);
		out->kept += c->keep;
	}
	out->total = n;
	out->dropped = n - out->kept;
	if (out->kept == 0) {
		rc = z4_error_set(Z4_EINVAL,
		                  "run '%s': the policy keeps none of its %zu "
		                  "checkpoints; refusing",
		                  run, n);
		goto done;
	}
	for (size_t k = 0; k < n; k++) {
		ckpt *c = &list[n - 1 - k];
		char hex[41];
		if (opts && opts->entry_fn) {
			git_oid_tostr(hex, sizeof(hex), &c->id);
			opts->entry_fn(hex, c->step, c->keep, opts->ud);
		}
	}
	if (out->dropped == 0 || (opts && opts->dry_run))
		goto done;

	/* Rebuild oldest first; an untouched oldest prefix keeps its ids. */
	for (size_t k = 0; k < n && rc == Z4_OK; k++) {
		ckpt *c = &list[n - 1 - k];
		git_commit *orig = NULL, *made = NULL;
		git_tree *tree = NULL;
		const git_commit *parents[1];
		if (!c->keep) {
			intact = 0;
			continue;
		}
		if (git_commit_lookup(&orig, repo->git, &c->id) < 0) {
			rc = z4_git_error("commit");
			break;
		}
		if (intact) {
			new_tip = c->id;
		} else {
			parents[0] = parent;
			if (git_commit_tree(&tree, orig) < 0 ||
			    git_commit_create(&new_tip, repo->git, NULL,
			                      git_commit_author(orig),
			                      git_commit_committer(orig),
			                      git_commit_message_encoding(orig),
			                      git_commit_message(orig), tree,
			                      parent ? 1 : 0, parents) < 0)
				rc = z4_git_error("write commit");
		}
		git_tree_free(tree);
		git_commit_free(orig);
		if (rc == Z4_OK &&
		    git_commit_lookup(&made, repo->git, &new_tip) < 0)
			rc = z4_git_error("commit");
		git_commit_free(parent);
		parent = made;
	}
	if (rc)
		goto done;
	snprintf(msg, sizeof(msg), "z4vc prune: kept %llu of %zu checkpoints",
	         (unsigned long long)out->kept, n);
	/* Under the ref-update lock (stale.c): a lock file that a killed
	 * process left is removed once old enough, a fresh one is named. */
	if ((rc = z4_reflock_take(&lock, repo)))
		goto done;
	for (int again = 1;; again = 0) {
		git_reference *nref = NULL;
		grc = git_reference_create_matching(&nref, repo->git, ref,
		                                    &new_tip, 1, &tip, msg);
		git_reference_free(nref);
		if (grc != GIT_ELOCKED || !again ||
		    !z4_reflock_clear_stale(repo, &lock, ref))
			break;
		git_error_clear();
	}
	if (grc == GIT_EMODIFIED) {
		git_error_clear();
		rc = z4_error_set(Z4_ELOCKED,
		                  "run '%s' moved during prune; try again", run);
	} else if (grc == GIT_ELOCKED) {
		git_error_clear();
		rc = z4_reflock_error(repo, &lock, ref);
	} else if (grc < 0) {
		rc = z4_git_error(ref);
	} else {
		rc = ensure_reflog(repo, &lock, ref, &tip, &new_tip, msg);
	}
	z4_reflock_drop(&lock);
	if (rc)
		goto done;
	git_oid_tostr(out->new_tip, sizeof(out->new_tip), &new_tip);
done:
	git_commit_free(parent);
	git_revwalk_free(w);
	z4_free(list);
	return rc;
}
