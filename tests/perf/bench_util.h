/* bench_util.h -- small helpers shared by the load tools: clocks and flags */
#ifndef TELEWIRE_BENCH_UTIL_H
#define TELEWIRE_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "telewire/error.h"
#include "telewire/opts.h"

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

/* The tools' flags, through the project's option table (telewire/opts.h):
 * command line only, each number checked against its range. */
#define BENCH_STR(flag, dst, meta, help) { flag, NULL, NULL, TW_OPT_STRING, dst, 0, 0, meta, help }
#define BENCH_INT(flag, dst, lo, hi, meta, help) \
	{ flag, NULL, NULL, TW_OPT_INT, dst, lo, hi, meta, help }
#define BENCH_NUM(flag, dst, lo, hi, meta, help) \
	{ flag, NULL, NULL, TW_OPT_DOUBLE, dst, lo, hi, meta, help }

/* Parses argv into the table; 0, 1 after --help (exit 0), or -1 after a
 * message on stderr (exit 2). */
static inline int bench_opts(const char *prog, const char *summary, const struct tw_opt *opts,
			     size_t nopts, int argc, char **argv)
{
	struct tw_opts_spec spec = { prog, summary, opts, nopts, NULL, NULL, NULL };
	int rc = tw_opts_parse(&spec, argc, argv);

	return rc == TW_OK ? 0 : rc == TW_ERR_USAGE ? 1 : -1;
}

#endif
