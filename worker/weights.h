/*
 * weights.h — weight-file inspection and the model-building helpers shared by
 * model.c (random init) and weights.c (safetensors loader).
 *
 * dream_weights_inspect() prints an INFO-style block for `dream inspect FILE`:
 *   # Weights
 *   file:data/weights/model.safetensors
 *   naming:timm
 *   arch:vgg16
 *   ...
 *   hash:0123456789abcdef
 * A safetensors file that is not a VGG (no features.N / classifier tensors, e.g.
 * data/prior.safetensors) gets a tensor listing with naming:none instead.
 */
#ifndef DREAM_WEIGHTS_H
#define DREAM_WEIGHTS_H
#include <stdio.h>
#include "dlog.h"
#include "model.h"

int dream_weights_inspect(const char *path, FILE *out, dream_err_t *err);

/* ---- internal: used by model.c and weights.c ---- */

/* One layer of a model to allocate (w/b are left zeroed in one arena). */
typedef struct dream_layer_spec {
    dream_layer_kind_t kind;
    int k, pad, cin, cout, relu;
    char name[48];
} dream_layer_spec_t;

/* Allocates a model with one float arena holding every conv's w (k,k,cin,cout) and
 * b (cout), zeroed; nclasses = cout of the last conv; arch "custom", norm = ImageNet. */
dream_model_t *dream_model_alloc(const dream_layer_spec_t *specs, int n, dream_err_t *err);
/* Number of parameters (floats) of all conv layers. */
size_t dream_model_params(const dream_model_t *m);

#endif
