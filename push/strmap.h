/* strmap.h -- the hub's string-keyed hash map lives in common/ */
#ifndef TW_PUSH_STRMAP_H
#define TW_PUSH_STRMAP_H

#include "telewire/strmap.h"

#endif
