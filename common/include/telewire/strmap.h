/* strmap.h -- a string-keyed hash map with chaining; keys are copied, values are the caller's */
#ifndef TELEWIRE_STRMAP_H
#define TELEWIRE_STRMAP_H

#include <stddef.h>

struct tw_strmap_entry {
	struct tw_strmap_entry *next;
	void *value;
	char key[];
};

struct tw_strmap {
	struct tw_strmap_entry **slots;
	size_t nslots, count;
};

/* Zero-initialised maps are valid and empty. */
void *tw_strmap_get(const struct tw_strmap *m, const char *key);
/* Returns TW_OK, TW_ERR_EXISTS (value untouched) or TW_ERR_NOMEM. */
int tw_strmap_put(struct tw_strmap *m, const char *key, void *value);
/* Removes key; returns its value, or NULL when absent. */
void *tw_strmap_del(struct tw_strmap *m, const char *key);
/* Calls fn for every entry; fn may not modify the map. */
void tw_strmap_each(const struct tw_strmap *m, void (*fn)(void *ctx, const char *key, void *value),
		    void *ctx);
/* Frees the table and the keys (not the values). */
void tw_strmap_free(struct tw_strmap *m);

#endif
