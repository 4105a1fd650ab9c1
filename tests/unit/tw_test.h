/* tw_test.h -- a tiny test runner: each check says what it expected and what it saw */
#ifndef TW_TEST_H
#define TW_TEST_H

#include <stdio.h>
#include <string.h>

static int tw_test_failures;
static int tw_test_checks;

#define TW_CHECK(cond) do { \
	tw_test_checks++; \
	if (!(cond)) { \
		tw_test_failures++; \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define TW_CHECK_INT(got, want) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	tw_test_checks++; \
	if (g_ != w_) { \
		tw_test_failures++; \
		fprintf(stderr, "%s:%d: %s: expected %lld, got %lld\n", \
			__FILE__, __LINE__, #got, w_, g_); \
	} \
} while (0)

#define TW_CHECK_DBL(got, want, eps) do { \
	double g_ = (got), w_ = (want); \
	tw_test_checks++; \
	if (!(g_ - w_ <= (eps) && w_ - g_ <= (eps))) { \
		tw_test_failures++; \
		fprintf(stderr, "%s:%d: %s: expected %.9g, got %.9g\n", \
			__FILE__, __LINE__, #got, w_, g_); \
	} \
} while (0)

#define TW_CHECK_STR(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	tw_test_checks++; \
	if (g_ == NULL || w_ == NULL ? g_ != w_ : strcmp(g_, w_) != 0) { \
		tw_test_failures++; \
		fprintf(stderr, "%s:%d: %s: expected \"%s\", got \"%s\"\n", \
			__FILE__, __LINE__, #got, w_ ? w_ : "(null)", g_ ? g_ : "(null)"); \
	} \
} while (0)

#define TW_RUN(fn) do { \
	int before_ = tw_test_failures; \
	fn(); \
	fprintf(stderr, "%s %s\n", tw_test_failures == before_ ? "ok  " : "FAIL", #fn); \
} while (0)

/* Ends main(): non-zero when any check failed, or when none ran. */
#define TW_TEST_END() ( \
	fprintf(stderr, "%d checks, %d failed\n", tw_test_checks, tw_test_failures), \
	(tw_test_failures || tw_test_checks == 0) ? 1 : 0)

#endif
