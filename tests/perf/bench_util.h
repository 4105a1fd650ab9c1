/* bench_util.h -- small helpers shared by the load tools: clocks and number flags */
#ifndef TELEWIRE_BENCH_UTIL_H
#define TELEWIRE_BENCH_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Microseconds since the Unix epoch: comparable between processes on one machine. */
static inline int64_t bench_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t bench_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* CPU time of this thread, in microseconds. */
static inline int64_t bench_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* CPU time of the whole process (user + system, every thread), in microseconds. */
static inline int64_t bench_process_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void bench_sleep_us(int64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* A whole number in [min, max] for flag; 0, or -1 after a message on stderr. */
static inline int bench_arg_ll(const char *prog, const char *flag, const char *v, long long min,
			       long long max, long long *out)
{
	char *end;

	errno = 0;
	*out = v ? strtoll(v, &end, 10) : 0;
	if (!v || errno || *end || end == v || *out < min || *out > max) {
		fprintf(stderr, "%s: %s: expected a whole number %lld..%lld\n", prog, flag, min, max);
		return -1;
	}
	return 0;
}

/* A number in [min, max] for flag; 0, or -1 after a message on stderr. */
static inline int bench_arg_double(const char *prog, const char *flag, const char *v, double min,
				   double max, double *out)
{
	char *end;

	errno = 0;
	*out = v ? strtod(v, &end) : 0;
	if (!v || errno || *end || end == v || !(*out >= min && *out <= max)) {
		fprintf(stderr, "%s: %s: expected a number %g..%g\n", prog, flag, min, max);
		return -1;
	}
	return 0;
}

#endif
