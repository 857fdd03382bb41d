/*
 * model.h — a VGG-style network as the engine sees it: an ordered list of
 * layers with host float32 weights in engine layout, plus its input
 * normalisation and provenance.
 *
 * Layer kinds:
 *   CONV  k x k, stride 1, zero padding `pad` (0 or 1), cin -> cout, optional ReLU.
 *         w is (k, k, cin, cout) row-major, b is (cout).
 *         (torch stores (cout, cin, kh, kw); loaders transpose.)
 *   POOL  2x2 stride 2 max-pool, floor mode.
 * VGG-16: 13 convs (3x3, pad 1) in 5 blocks, each block ends with a POOL; then
 * fc6 = CONV k=7 pad=0 512->4096 ReLU, fc7 = CONV k=1 4096->4096 ReLU,
 * fc8 = CONV k=1 4096->1000 (no ReLU: logits).
 *
 * Input normalisation: network input channel c = x[..., perm[c]] * scale[c] + shift[c]
 * for pixels x in 0..255 RGB. torchvision/timm: perm = (0,1,2),
 * scale = 1/(255 std), shift = -mean/std. Caffe-style BGR releases: perm = (2,1,0),
 * scale = 1, shift = -mean_pixel.
 */
#ifndef DREAM_MODEL_H
#define DREAM_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include "dlog.h"

#define DREAM_MAX_LAYERS 48

typedef enum { DREAM_LAYER_CONV = 0, DREAM_LAYER_POOL = 1 } dream_layer_kind_t;

typedef struct dream_layer {
    dream_layer_kind_t kind;
    int k, pad, cin, cout, relu;
    float *w;               /* (k, k, cin, cout) */
    float *b;               /* (cout) */
    char name[48];          /* e.g. "features.0" / "fc6" */
} dream_layer_t;

typedef struct dream_model {
    char arch[16];          /* "vgg16", "vgg19", or "custom" */
    int nlayers;
    dream_layer_t layers[DREAM_MAX_LAYERS];
    int nclasses;           /* cout of the last layer */
    int trained;            /* 0 for random init: must be reported as untrained */
    char source[512];       /* file path, or "random(seed=N)" */
    char naming[16];        /* "torchvision" | "timm" | "random" */
    float in_scale[3], in_shift[3];
    int in_perm[3];
    char hash[17];          /* 64-bit FNV-1a of all weights, hex */
    /* ownership */
    float *arena;           /* all w/b live here (NULL if not owned that way) */
    size_t arena_floats;
} dream_model_t;

/* A description of an architecture for random init:
 * convs[] lists channels of the 3x3 convs, 0 marks a POOL. fc = {k, c6, c7, ncls}. */
typedef struct dream_arch {
    const char *name;
    int nconv;
    int convs[32];
    int fc_k, fc6, fc7, ncls;
} dream_arch_t;

extern const dream_arch_t DREAM_ARCH_VGG16;
extern const dream_arch_t DREAM_ARCH_VGG19;

/* Seed of the random init that dream_model_open("random") serves (VGG-16); dreamd's
 * dream_model_identify("random") uses the same. */
#define DREAM_RANDOM_SEED 1234

/* Deterministic He-normal init (fixed seed); trained = 0. Its hash is the identity hash
 * of dream_model_random_hash(), not a hash of the values. */
dream_model_t *dream_model_random(const dream_arch_t *arch, uint64_t seed, dream_err_t *err);
/* The hash of dream_model_random(arch, seed) without building it: 64-bit FNV-1a (16 hex
 * digits) of the canonical identity string "random-init v1 ... arch A seed S" + every
 * layer's shape (model.c random_identity()); the weights are a pure function of that
 * string. Returns 0, or -1 with err for a bad arch. */
int dream_model_random_hash(const dream_arch_t *arch, uint64_t seed, char hash[17], dream_err_t *err);
/* Loads .safetensors (torchvision or timm naming, F32/F16/BF16), arch from tensors.
 * Implemented in weights.c. */
dream_model_t *dream_model_load(const char *path, dream_err_t *err);
/* "random" or NULL -> dream_model_random(vgg16, DREAM_RANDOM_SEED) with a loud warning. */
dream_model_t *dream_model_open(const char *path_or_random, dream_err_t *err);
/* What dream_model_open(path_or_random) would serve, without keeping it (dreamd pins the
 * farm's model with this): "random"/NULL costs nothing (dream_model_random_hash of VGG-16,
 * DREAM_RANDOM_SEED, nothing allocated but the layer table); a FILE is loaded once with
 * dream_model_load and freed. desc is the dream_model_describe() line. 0, or -1 with err. */
typedef struct dream_model_id {
    char hash[17];
    int trained;
    char desc[700];
} dream_model_id_t;
int dream_model_identify(const char *path_or_random, dream_model_id_t *id, dream_err_t *err);
void dream_model_destroy(dream_model_t **m);

/* number of POOL layers, kernel of the first valid (pad 0) conv */
int dream_model_npools(const dream_model_t *m);
/* Minimum input side; score grid for an H x W input (-1 with err if too small). */
int dream_model_min_side(const dream_model_t *m);
int dream_model_grid(const dream_model_t *m, int H, int W, int *gh, int *gw, dream_err_t *err);
/* Computes m->hash from the weight values (loaded files; a random model's hash is its
 * identity hash, which this replaces). */
void dream_model_compute_hash(dream_model_t *m);
/* One-line description: "vgg16 (torchvision, trained) from FILE" / "... UNTRAINED random init ..." */
void dream_model_describe(const dream_model_t *m, char *buf, size_t n);
/* Sets the torchvision/timm ImageNet normalisation. */
void dream_model_set_imagenet_norm(dream_model_t *m);

#endif
