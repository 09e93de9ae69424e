/* The FlowAnchor edit on CUDA: SAR (with its GPU column reduction) and the
 * Philox noise against the CPU kernels, and the four edit goldens of the
 * tiny model within the bf16 DiT's error (2e-2 relative on the final
 * latent, tools/reference/docs/edit.md).
 *
 * Without a usable device (CI) every device test is a skip that names the
 * reason.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <string.h>

#include "fa-edit.h"
#include "fa-error.h"
#include "fa-safetensors.h"
#include "fa-test-util.h"

#define KERNEL_TOLERANCE 1e-6
#define FINAL_TOLERANCE 2e-2

static char *cuda_skip_reason;
static FaBackend *cpu;
static FaSafetensors *inputs;

static FaBackend *
require_cuda (void)
{
  g_autoptr (GError) error = NULL;

  if (cuda_skip_reason != NULL)
    {
      g_test_skip (cuda_skip_reason);
      return NULL;
    }
  FaBackend *cuda = fa_backend_new_cuda (0, &error);
  g_assert_no_error (error);
  return cuda;
}

static char *
data_path (const char *relative)
{
  return g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", relative, NULL);
}

static FaSafetensors *
open_golden (const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *relative = g_strdup_printf ("goldens/%s", name);
  g_autofree char *path = data_path (relative);
  FaSafetensors *file = fa_safetensors_open (path, &error);
  g_assert_no_error (error);
  return file;
}

static const FaSafetensorsEntry *
entry_of (FaSafetensors *file, const char *name)
{
  const FaSafetensorsEntry *entry = fa_safetensors_lookup (file, name);
  if (entry == NULL)
    g_error ("no golden tensor '%s'", name);
  return entry;
}

static FaTensor *
golden_tensor (FaSafetensors *file, const char *name)
{
  g_autoptr (GError) error = NULL;
  const FaSafetensorsEntry *entry = entry_of (file, name);
  g_assert_cmpint (entry->dtype, ==, FA_DTYPE_F32);
  FaTensor *t = fa_tensor_new (cpu, FA_DTYPE_F32, entry->ndim, entry->shape, &error);
  g_assert_no_error (error);
  memcpy (fa_tensor_get_data (t), entry->data, entry->nbytes);
  return t;
}

static int *
golden_ints (FaSafetensors *file, const char *name, int *out_n)
{
  const FaSafetensorsEntry *entry = entry_of (file, name);
  g_assert_cmpint (entry->dtype, ==, FA_DTYPE_I64);
  gint64 n = (gint64) (entry->nbytes / 8);
  int *values = g_new (int, MAX (n, 1));
  for (gint64 i = 0; i < n; i++)
    {
      gint64 v;
      memcpy (&v, (const char *) entry->data + i * sizeof v, sizeof v);
      values[i] = (int) v;
    }
  *out_n = (int) n;
  return values;
}

static FaTensor *
to (const FaTensor *t, FaBackend *backend)
{
  g_autoptr (GError) error = NULL;
  FaTensor *moved = fa_tensor_to (t, backend, t->dtype, &error);
  g_assert_no_error (error);
  return moved;
}

static double *
as_f64 (const FaTensor *t)
{
  gint64 n = fa_tensor_get_numel (t);
  double *values = g_new (double, n);
  for (gint64 i = 0; i < n; i++)
    values[i] = ((const float *) fa_tensor_get_data (t))[i];
  return values;
}

/* SAR on random logits large enough for the column reduction to split
 * into many chunks, on CUDA against the CPU. */
static void
test_sar (void)
{
  g_autoptr (FaBackend) cuda = require_cuda ();
  if (cuda == NULL)
    return;
  g_autoptr (GError) error = NULL;
  const gint64 heads = 3, n = 5000, l = 40;
  const int n_real = 29;
  const gint64 shape[3] = { heads, n, l };
  g_autoptr (FaTensor) host = fa_tensor_new (cpu, FA_DTYPE_F32, 3, shape, &error);
  fa_test_fill_uniform (fa_tensor_get_data (host), heads * n * l, 5, -6.0f, 6.0f);
  g_autofree guint8 *mask = g_new (guint8, n);
  g_autoptr (GRand) rand = g_rand_new_with_seed (6);
  for (gint64 i = 0; i < n; i++)
    mask[i] = g_rand_double (rand) < 0.3;
  const int J[] = { 3, 4, 5, 17, 4, 28 }; /* 4 twice: modulated once */

  g_autoptr (FaTensor) device = to (host, cuda);
  g_assert_true (fa_edit_sar_modulate (cpu, host, mask, J, G_N_ELEMENTS (J), n_real, 0.3f, 0.45f, &error));
  g_assert_true (fa_edit_sar_modulate (cuda, device, mask, J, G_N_ELEMENTS (J), n_real, 0.3f, 0.45f, &error));
  g_assert_no_error (error);
  g_autoptr (FaTensor) back = to (device, cpu);
  g_autofree double *want = as_f64 (host);
  double err = fa_test_relative_error (fa_tensor_get_data (back), want, heads * n * l);
  g_test_message ("SAR CUDA vs CPU: relative error %.3g", err);
  g_assert_cmpfloat (err, <=, KERNEL_TOLERANCE);

  /* the golden unit case on CUDA */
  g_autoptr (FaTensor) unit = golden_tensor (inputs, "sar_unit.logits_in");
  g_autoptr (FaTensor) unit_out = golden_tensor (inputs, "sar_unit.logits_out");
  const FaSafetensorsEntry *m = entry_of (inputs, "sar_unit.token_mask");
  int n_j, count;
  g_autofree int *uj = golden_ints (inputs, "sar_unit.J", &n_j);
  g_autofree int *ur = golden_ints (inputs, "sar_unit.n_real", &count);
  g_autoptr (FaTensor) unit_device = to (unit, cuda);
  g_assert_true (fa_edit_sar_modulate (cuda, unit_device, m->data, uj, n_j, ur[0], 0.3f, 0.3f, &error));
  g_autoptr (FaTensor) unit_back = to (unit_device, cpu);
  g_autofree double *unit_want = as_f64 (unit_out);
  fa_test_assert_close (fa_tensor_get_data (unit_back), unit_want, fa_tensor_get_numel (unit_out),
                        KERNEL_TOLERANCE);
}

static void
test_noise (void)
{
  g_autoptr (FaBackend) cuda = require_cuda ();
  if (cuda == NULL)
    return;
  g_autoptr (GError) error = NULL;
  const gint64 n = (1 << 20) + 3; /* a partial last group */
  g_autoptr (FaTensor) host = fa_tensor_new (cpu, FA_DTYPE_F32, 1, &n, &error);
  g_autoptr (FaTensor) device = fa_tensor_new (cuda, FA_DTYPE_F32, 1, &n, &error);
  const guint64 seed = G_GUINT64_CONSTANT (0x123456789abc);

  g_assert_true (fa_edit_noise (cpu, seed, 3, 1, host, &error));
  g_assert_true (fa_edit_noise (cuda, seed, 3, 1, device, &error));
  g_assert_no_error (error);
  g_autoptr (FaTensor) back = to (device, cpu);
  g_autofree double *want = as_f64 (host);
  double err = fa_test_relative_error (fa_tensor_get_data (back), want, n);
  g_test_message ("noise CUDA vs CPU: relative error %.3g", err);
  g_assert_cmpfloat (err, <=, KERNEL_TOLERANCE);
}

static gboolean
replay_noise (int step, int draw, FaTensor *noise, gpointer user_data, GError **error)
{
  char name[64];
  g_snprintf (name, sizeof name, "noise.step%02d", step);
  const FaSafetensorsEntry *entry = fa_safetensors_lookup (inputs, name);
  gint64 count = fa_tensor_get_numel (noise);
  (void) user_data;

  if (entry == NULL || draw >= entry->shape[0])
    {
      g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "no stored noise for step %d draw %d", step, draw);
      return FALSE;
    }
  float *host = g_new (float, count);
  memcpy (host, (const char *) entry->data + (gsize) draw * count * sizeof (float), count * sizeof (float));
  g_autoptr (FaTensor) wrapped = fa_tensor_new_wrapping (FA_DTYPE_F32, noise->ndim, noise->shape, host,
                                                         g_free, host, error);
  return wrapped != NULL && fa_tensor_copy (noise, wrapped, error);
}

static FaWanDitText *
encode (FaWanDit *dit, FaBackend *cuda, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) host = golden_tensor (inputs, name);
  g_autoptr (FaTensor) context = to (host, cuda);
  FaWanDitText *text = fa_wan_dit_encode_text (dit, context, &error);
  g_assert_no_error (error);
  return text;
}

static void
test_goldens (void)
{
  g_autoptr (FaBackend) cuda = require_cuda ();
  if (cuda == NULL)
    return;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = data_path ("wan-tiny/transformer");
  g_autoptr (FaWanDit) dit = fa_wan_dit_load (path, cuda, &error);
  g_assert_no_error (error);
  g_autoptr (FaWanDitText) source = encode (dit, cuda, "context.src");
  g_autoptr (FaWanDitText) target = encode (dit, cuda, "context.tar");
  g_autoptr (FaWanDitText) negative = encode (dit, cuda, "context.neg");
  g_autoptr (FaTensor) x = golden_tensor (inputs, "x_src");
  int n_j, count;
  g_autofree int *J = golden_ints (inputs, "J", &n_j);
  g_autofree int *n_real = golden_ints (inputs, "n_real", &count);
  const FaSafetensorsEntry *mask = entry_of (inputs, "token_mask");
  g_autofree guint8 *token_mask = g_memdup2 (mask->data, mask->nbytes);

  const FaEditInputs in = {
    .x_source = x, .source = source, .target = target, .negative = negative,
    .target_real_rows = n_real[1], .target_tokens = J, .n_target_tokens = n_j, .token_mask = token_mask,
  };
  const struct {
    const char *name;
    gboolean sar, amm;
  } variants[] = { { "plain", FALSE, FALSE }, { "sar", TRUE, FALSE }, { "amm", FALSE, TRUE },
                   { "sar_amm", TRUE, TRUE } };

  for (guint v = 0; v < G_N_ELEMENTS (variants); v++)
    {
      FaEditParams p;
      fa_edit_params_init (&p);
      p.steps = 6;
      p.n_max = 5;
      p.n_min = 1;
      p.n_avg = 2;
      p.tau = 0.8f;
      p.sar = variants[v].sar;
      p.amm = variants[v].amm;
      FaEditOptions options = { .noise = replay_noise };
      g_autoptr (FaTensor) result = fa_tensor_new (cpu, FA_DTYPE_F32, 5, x->shape, &error);
      fa_test_poison (fa_tensor_get_data (result), fa_tensor_get_numel (result));
      g_assert_true (fa_edit_run (dit, &in, &p, &options, result, &error));
      g_assert_no_error (error);

      g_autofree char *file = g_strdup_printf ("edit-%s.safetensors", variants[v].name);
      g_autoptr (FaSafetensors) golden = open_golden (file);
      g_autoptr (FaTensor) final = golden_tensor (golden, "final");
      g_autofree double *want = as_f64 (final);
      double err = fa_test_relative_error (fa_tensor_get_data (result), want, fa_tensor_get_numel (final));
      g_test_message ("edit-%s on CUDA: final relative error %.3g", variants[v].name, err);
      g_assert_cmpfloat (err, <=, FINAL_TOLERANCE);
    }
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;

  g_test_init (&argc, &argv, NULL);
  if (!fa_cuda_probe (0, NULL, NULL, &error))
    cuda_skip_reason = g_strdup (error->message);
  cpu = fa_backend_new_cpu ();
  inputs = open_golden ("edit-inputs.safetensors");

  g_test_add_func ("/cuda-edit/sar", test_sar);
  g_test_add_func ("/cuda-edit/noise", test_noise);
  g_test_add_func ("/cuda-edit/goldens", test_goldens);

  int status = g_test_run ();
  fa_safetensors_unref (inputs);
  fa_backend_unref (cpu);
  g_free (cuda_skip_reason);
  return status;
}
