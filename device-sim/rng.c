/* rng.c -- a seeded random generator, so that a run can be repeated */
#include <math.h>

#include "sim.h"

uint64_t sim__rand(struct sim_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double sim__uniform(struct sim_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * (double)(sim__rand(r) >> 11) * 0x1.0p-53;
}

double sim__gauss(struct sim_rng *r)
{
	double u1 = sim__uniform(r, 1e-12, 1.0), u2 = sim__uniform(r, 0.0, 1.0);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
