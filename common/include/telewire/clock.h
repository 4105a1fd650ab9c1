/* clock.h -- wall-clock and monotonic milliseconds */
#ifndef TELEWIRE_CLOCK_H
#define TELEWIRE_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (for timestamps that leave the process). */
int64_t tw_wall_ms(void);
/* Milliseconds from an arbitrary start that never jumps (for timers). */
int64_t tw_mono_ms(void);
/* Microseconds since the Unix epoch (for latency measurements). */
int64_t tw_wall_us(void);
/* Microseconds on tw_mono_ms's clock (for timers finer than a millisecond). */
int64_t tw_mono_us(void);

#endif
