/*
 * pool.h - an in-order job pipeline on a few worker threads.
 *
 * The caller fills a job slot, submits it, and retires jobs strictly in
 * submission order, so results are consumed in the same order whatever the
 * number of threads: output never depends on it. Each worker owns a state
 * (e.g. its own codec context and store snapshot) made by state_new. With
 * zero workers jobs run synchronously on the caller's thread at submit.
 */
#ifndef Z4_POOL_H
#define Z4_POOL_H

#include <stddef.h>

typedef struct z4_pool z4_pool;

typedef struct {
	void *(*state_new)(void *ud);      /* NULL on failure */
	void (*state_free)(void *state);
	int (*run)(void *state, void *job); /* Z4_OK or a negative code */
	void *ud;
} z4_pool_ops;

/*
 * nworkers threads (0: synchronous) and `depth` job slots, each of
 * job_size bytes, zeroed, owned by the pool (the caller may keep buffers
 * in a slot across uses: they are freed by slot_free on z4_pool_free).
 */
int z4_pool_new(z4_pool **out, unsigned nworkers, size_t depth, size_t job_size,
		const z4_pool_ops *ops, void (*slot_free)(void *job));
void z4_pool_free(z4_pool *p); /* NULL-safe; waits for running jobs */

/* Jobs submitted and not yet retired. */
size_t z4_pool_inflight(const z4_pool *p);
/* The slot the next submit will run; valid when inflight < depth. */
void *z4_pool_slot(z4_pool *p);
/* Run the slot returned by z4_pool_slot. */
void z4_pool_submit(z4_pool *p);
/* Wait for the oldest job; *job gets its slot (valid until the next
 * z4_pool_slot), the return value its result. Nothing in flight: Z4_EINVAL. */
int z4_pool_retire(z4_pool *p, void **job);

/* Worker threads for `-j 0` (the default): the number of online cores. */
unsigned z4_pool_default_threads(void);

#endif
