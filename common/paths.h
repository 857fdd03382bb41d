/*
 * paths.h — where dreamfarm finds its data files.
 * dream_data_dir(): $DREAM_DATA_DIR, else <dir of executable>/../../data (build/bin -> repo),
 * else <dir of executable>/../share/dreamfarm, else ./data.
 */
#ifndef DREAM_PATHS_H
#define DREAM_PATHS_H
#include <stddef.h>
const char *dream_data_dir(void);
/* Joins dream_data_dir() and name into buf; returns buf. */
char *dream_data_path(const char *name, char *buf, size_t n);
#endif
