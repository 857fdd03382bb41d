/*
 * paths.c — data directory discovery (see paths.h).
 */
#include "paths.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>

static char g_data_dir[PATH_MAX];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void find_data_dir(void) {
    const char *env = getenv("DREAM_DATA_DIR");
    if (env && *env) { snprintf(g_data_dir, sizeof g_data_dir, "%s", env); return; }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        static const char *rel[] = {"/../../data", "/../share/dreamfarm", "/../data"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            char cand[PATH_MAX + 32];
            snprintf(cand, sizeof cand, "%s%s", exe, rel[i]);
            char probe[PATH_MAX + 64];
            snprintf(probe, sizeof probe, "%s/imagenet_classes.txt", cand);
            if (is_dir(cand) && access(probe, R_OK) == 0) {
                if (!realpath(cand, g_data_dir)) {
                    size_t l = strlen(cand) < sizeof g_data_dir - 1 ? strlen(cand) : sizeof g_data_dir - 1;
                    memcpy(g_data_dir, cand, l);
                    g_data_dir[l] = 0;
                }
                return;
            }
        }
    }
    snprintf(g_data_dir, sizeof g_data_dir, "data");
}

const char *dream_data_dir(void) {
    pthread_once(&g_once, find_data_dir);
    return g_data_dir;
}

char *dream_data_path(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", dream_data_dir(), name);
    return buf;
}
