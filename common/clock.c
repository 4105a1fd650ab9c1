/* clock.c -- wall-clock and monotonic milliseconds */
#include <time.h>

#include "telewire/clock.h"

static int64_t clock__ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tw_wall_ms(void) { return clock__ms(CLOCK_REALTIME); }
int64_t tw_mono_ms(void) { return clock__ms(CLOCK_MONOTONIC); }

static int64_t clock__us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tw_wall_us(void) { return clock__us(CLOCK_REALTIME); }

int64_t tw_mono_us(void) { return clock__us(CLOCK_MONOTONIC); }
