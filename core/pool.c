/* pool.c - see pool.h. One mutex, two condition variables, a ring of
 * slots: [head, next) are running or done, [next, tail) wait for a worker. */
#include "pool.h"

#include "z4_alloc.h"
#include "z4_err.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
	int done, rc;
	char why[512]; /* the worker's reason: error strings are per thread */
} slot_state;

struct z4_pool {
	z4_pool_ops ops;
	void (*slot_free)(void *job);
	unsigned nworkers;
	size_t depth, job_size;
	unsigned char *jobs; /* depth * job_size */
	slot_state *st;
	size_t head, next, tail; /* monotonically increasing counters */
	int stopping;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	pthread_t *threads;
	unsigned started;
	void *sync_state; /* for nworkers == 0 */
};

static void *slot_at(z4_pool *p, size_t i)
{
	return p->jobs + (i % p->depth) * p->job_size;
}

static void *worker(void *arg)
{
	z4_pool *p = arg;
	void *state = p->ops.state_new(p->ops.ud);

	pthread_mutex_lock(&p->mu);
	for (;;) {
		size_t i;
		int rc;
		while (!p->stopping && p->next == p->tail)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stopping)
			break;
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		rc = state ? p->ops.run(state, slot_at(p, i))
			   : z4_error_set(Z4_ENOMEM, "out of memory (worker)");
		if (rc < 0)
			snprintf(p->st[i % p->depth].why, sizeof(p->st[0].why), "%s",
				 z4_error_last());
		pthread_mutex_lock(&p->mu);
		p->st[i % p->depth].rc = rc;
		p->st[i % p->depth].done = 1;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	if (state)
		p->ops.state_free(state);
	return NULL;
}

int z4_pool_new(z4_pool **out, unsigned nworkers, size_t depth, size_t job_size,
		const z4_pool_ops *ops, void (*slot_free)(void *job))
{
	z4_pool *p;
	size_t total;

	*out = NULL;
	if (depth == 0 || z4_mul_overflow(&total, depth, job_size))
		return z4_error_set(Z4_EINVAL, "pool: bad size");
	p = z4_calloc(1, sizeof(*p));
	if (!p)
		return z4_error_set(Z4_ENOMEM, "out of memory");
	p->ops = *ops;
	p->slot_free = slot_free;
	p->nworkers = nworkers;
	p->depth = depth;
	p->job_size = job_size;
	p->jobs = z4_calloc(depth, job_size);
	p->st = z4_calloc(depth, sizeof(*p->st));
	p->threads = z4_calloc(nworkers ? nworkers : 1, sizeof(pthread_t));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	if (!p->jobs || !p->st || !p->threads)
		goto nomem;
	if (nworkers == 0) {
		if (!(p->sync_state = ops->state_new(ops->ud)))
			goto nomem;
	}
	for (unsigned i = 0; i < nworkers; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
			z4_pool_free(p);
			return z4_error_set(Z4_ENOMEM, "pool: cannot start a thread");
		}
		p->started++;
	}
	*out = p;
	return Z4_OK;
nomem:
	z4_pool_free(p);
	return z4_error_set(Z4_ENOMEM, "out of memory");
}

void z4_pool_free(z4_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->started; i++)
		pthread_join(p->threads[i], NULL);
	if (p->sync_state)
		p->ops.state_free(p->sync_state);
	if (p->jobs && p->slot_free)
		for (size_t i = 0; i < p->depth; i++)
			p->slot_free(p->jobs + i * p->job_size);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	z4_free(p->jobs);
	z4_free(p->st);
	z4_free(p->threads);
	z4_free(p);
}

size_t z4_pool_inflight(const z4_pool *p) { return p->tail - p->head; }

void *z4_pool_slot(z4_pool *p) { return slot_at(p, p->tail); }

void z4_pool_submit(z4_pool *p)
{
	size_t i = p->tail;
	if (p->nworkers == 0) {
		p->st[i % p->depth].rc = p->ops.run(p->sync_state, slot_at(p, i));
		p->st[i % p->depth].done = 1;
		p->tail++;
		p->next = p->tail;
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->st[i % p->depth].done = 0;
	p->tail++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

int z4_pool_retire(z4_pool *p, void **job)
{
	slot_state *s;
	int rc;

	if (p->head == p->tail)
		return Z4_EINVAL;
	s = &p->st[p->head % p->depth];
	if (p->nworkers) {
		pthread_mutex_lock(&p->mu);
		while (!s->done)
			pthread_cond_wait(&p->done, &p->mu);
		pthread_mutex_unlock(&p->mu);
	}
	rc = s->rc;
	if (rc < 0 && p->nworkers)
		z4_error_set(rc, "%s", s->why);
	s->done = 0;
	*job = slot_at(p, p->head);
	p->head++;
	return rc;
}

unsigned z4_pool_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}
