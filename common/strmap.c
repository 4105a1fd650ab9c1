/* strmap.c -- a string-keyed hash map with chaining (FNV-1a, doubling at load 1) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telewire/error.h"
#include "telewire/strmap.h"

static size_t strmap__hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

static struct tw_strmap_entry **strmap__find(const struct tw_strmap *m, const char *key)
{
	struct tw_strmap_entry **pp;

	if (!m->nslots)
		return NULL;
	pp = &m->slots[strmap__hash(key) & (m->nslots - 1)];
	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->key, key) == 0)
			return pp;
	return NULL;
}

static int strmap__grow(struct tw_strmap *m)
{
	size_t n = m->nslots ? m->nslots * 2 : 16;
	struct tw_strmap_entry **slots = calloc(n, sizeof(*slots));

	if (!slots)
		return TW_ERR_NOMEM;
	for (size_t i = 0; i < m->nslots; i++) {
		struct tw_strmap_entry *e = m->slots[i], *next;

		for (; e; e = next) {
			size_t j = strmap__hash(e->key) & (n - 1);

			next = e->next;
			e->next = slots[j];
			slots[j] = e;
		}
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = n;
	return TW_OK;
}

void *tw_strmap_get(const struct tw_strmap *m, const char *key)
{
	struct tw_strmap_entry **pp = strmap__find(m, key);

	return pp ? (*pp)->value : NULL;
}

int tw_strmap_put(struct tw_strmap *m, const char *key, void *value)
{
	size_t klen = strlen(key), i;
	struct tw_strmap_entry *e;

	if (strmap__find(m, key))
		return TW_ERR_EXISTS;
	if (m->count >= m->nslots && strmap__grow(m) != TW_OK)
		return TW_ERR_NOMEM;
	e = malloc(sizeof(*e) + klen + 1);
	if (!e)
		return TW_ERR_NOMEM;
	memcpy(e->key, key, klen + 1);
	e->value = value;
	i = strmap__hash(key) & (m->nslots - 1);
	e->next = m->slots[i];
	m->slots[i] = e;
	m->count++;
	return TW_OK;
}

void *tw_strmap_del(struct tw_strmap *m, const char *key)
{
	struct tw_strmap_entry **pp = strmap__find(m, key), *e;
	void *v;

	if (!pp)
		return NULL;
	e = *pp;
	*pp = e->next;
	v = e->value;
	free(e);
	m->count--;
	return v;
}

void tw_strmap_each(const struct tw_strmap *m, void (*fn)(void *ctx, const char *key, void *value),
		    void *ctx)
{
	for (size_t i = 0; i < m->nslots; i++)
		for (struct tw_strmap_entry *e = m->slots[i]; e; e = e->next)
			fn(ctx, e->key, e->value);
}

void tw_strmap_free(struct tw_strmap *m)
{
	for (size_t i = 0; i < m->nslots; i++) {
		struct tw_strmap_entry *e = m->slots[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->slots);
	m->slots = NULL;
	m->nslots = m->count = 0;
}
