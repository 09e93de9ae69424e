/* The FlowAnchor sampler on the CPU against the edit goldens of the tiny
 * model (tests/data/goldens/edit-*.safetensors, tools/reference/docs/edit.md):
 * the four variants step by step replaying the stored noise, SAR's unit
 * case, the token mask, the schedule, AMM against a float64 loop, the
 * parameter checks, the Philox noise and cancelling a run.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <string.h>

#include "cpu/fa-cpu-edit.h"
#include "fa-edit.h"
#include "fa-error.h"
#include "fa-safetensors.h"
#include "fa-test-util.h"

#define Z_TOLERANCE 1e-4
#define DV_TOLERANCE 5e-4
#define SAR_TOLERANCE 1e-6

static FaBackend *cpu;
static FaSafetensors *inputs;
static FaWanDit *dit;

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

static gint64
entry_numel (const FaSafetensorsEntry *entry)
{
  gint64 n = 1;
  for (int d = 0; d < entry->ndim; d++)
    n *= entry->shape[d];
  return n;
}

/* A golden f32 tensor as a fresh host tensor on the CPU backend (the
 * mapping may be unaligned). */
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

static double *
golden_f64 (FaSafetensors *file, const char *name, gint64 *out_n)
{
  const FaSafetensorsEntry *entry = entry_of (file, name);
  g_assert_cmpint (entry->dtype, ==, FA_DTYPE_F32);
  gint64 n = entry_numel (entry);
  double *values = g_new (double, n);
  for (gint64 i = 0; i < n; i++)
    {
      float v;
      memcpy (&v, (const char *) entry->data + i * sizeof v, sizeof v);
      values[i] = v;
    }
  *out_n = n;
  return values;
}

static int *
golden_ints (FaSafetensors *file, const char *name, int *out_n)
{
  const FaSafetensorsEntry *entry = entry_of (file, name);
  g_assert_cmpint (entry->dtype, ==, FA_DTYPE_I64);
  gint64 n = entry_numel (entry);
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

static guint8 *
golden_bytes (FaSafetensors *file, const char *name, gint64 *out_n)
{
  const FaSafetensorsEntry *entry = entry_of (file, name);
  g_assert_cmpint (entry->dtype, ==, FA_DTYPE_U8);
  *out_n = entry_numel (entry);
  return g_memdup2 (entry->data, entry->nbytes);
}

/* ---- the edit's inputs ---- */

typedef struct {
  FaTensor *x;
  FaWanDitText *source, *target, *negative;
  int *J;
  int n_J;
  int n_real[3];
  guint8 *token_mask;
} EditInputs;

static FaWanDitText *
encode (const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) context = golden_tensor (inputs, name);
  FaWanDitText *text = fa_wan_dit_encode_text (dit, context, &error);
  g_assert_no_error (error);
  return text;
}

static void
edit_inputs_init (EditInputs *in)
{
  gint64 n;
  int count;

  in->x = golden_tensor (inputs, "x_src");
  in->source = encode ("context.src");
  in->target = encode ("context.tar");
  in->negative = encode ("context.neg");
  in->J = golden_ints (inputs, "J", &in->n_J);
  g_autofree int *n_real = golden_ints (inputs, "n_real", &count);
  g_assert_cmpint (count, ==, 3);
  memcpy (in->n_real, n_real, sizeof in->n_real);
  in->token_mask = golden_bytes (inputs, "token_mask", &n);
  g_assert_cmpint (n, ==, 72);
}

static void
edit_inputs_clear (EditInputs *in)
{
  fa_tensor_unref (in->x);
  fa_wan_dit_text_free (in->source);
  fa_wan_dit_text_free (in->target);
  fa_wan_dit_text_free (in->negative);
  g_free (in->J);
  g_free (in->token_mask);
}

static FaEditInputs
edit_inputs_view (const EditInputs *in)
{
  return (FaEditInputs) {
    .x_source = in->x,
    .source = in->source,
    .target = in->target,
    .negative = in->negative,
    .target_real_rows = in->n_real[1],
    .target_tokens = in->J,
    .n_target_tokens = in->n_J,
    .token_mask = in->token_mask,
  };
}

/* The parameters of the goldens (docs/edit.md). */
static void
golden_params (FaEditParams *p, gboolean sar, gboolean amm)
{
  fa_edit_params_init (p);
  p->steps = 6;
  p->n_max = 5;
  p->n_min = 1;
  p->n_avg = 2;
  p->shift = 5.0f;
  p->cfg_source = 5.0f;
  p->cfg_target = 10.0f;
  p->tau = 0.8f;
  p->beta1 = p->beta2 = 0.3f;
  p->gamma = 1.0f;
  p->gamma_frames = 21;
  p->mask_dilation = 2;
  p->sar = sar;
  p->amm = amm;
}

/* FaEditNoiseFunc replaying noise.stepNN[draw]. */
static gboolean
replay_noise (int step, int draw, FaTensor *noise, gpointer user_data, GError **error)
{
  char name[64];
  g_snprintf (name, sizeof name, "noise.step%02d", step);
  const FaSafetensorsEntry *entry = fa_safetensors_lookup (inputs, name);
  gint64 count = fa_tensor_get_numel (noise);
  (void) user_data;

  if (entry == NULL || draw >= entry->shape[0] || entry_numel (entry) / entry->shape[0] != count)
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

typedef struct {
  GHashTable *taps; /* "stepNN.name" → GArray of float */
  int steps_reported;
  int last_done, last_total;
  GCancellable *cancel_at_step_cancellable;
  int cancel_after_done;    /* cancel in the step callback after this many steps */
  const char *cancel_at_tap; /* or at this tap ("stepNN.name") */
  int cancel_noise_step, cancel_noise_draw; /* or when this draw is drawn (step > 0) */
  guint64 max_memory;
} Record;

static void
record_init (Record *r)
{
  memset (r, 0, sizeof *r);
  r->taps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_array_unref);
}

static void
record_tap (int step, const char *name, const FaTensor *value, gpointer user_data)
{
  Record *r = user_data;
  g_autofree char *key = g_strdup_printf ("step%02d.%s", step, name);

  g_assert_true (value->dtype == FA_DTYPE_F32 && value->device == FA_DEVICE_CPU);
  GArray *values = g_array_new (FALSE, FALSE, sizeof (float));
  g_array_append_vals (values, fa_tensor_get_data (value), fa_tensor_get_numel (value));
  g_assert_false (g_hash_table_contains (r->taps, key));
  if (r->cancel_at_tap != NULL && strcmp (key, r->cancel_at_tap) == 0)
    g_cancellable_cancel (r->cancel_at_step_cancellable);
  g_hash_table_insert (r->taps, g_steal_pointer (&key), values);
}

static void
record_step (int done, int total, const FaTensor *estimate, gpointer user_data)
{
  Record *r = user_data;
  guint64 current;

  g_assert_cmpint (done, ==, r->last_done + 1);
  g_assert_true (estimate->dtype == FA_DTYPE_F32 && estimate->device == FA_DEVICE_CPU);
  for (gint64 i = 0; i < fa_tensor_get_numel (estimate); i++)
    g_assert_true (isfinite (((const float *) fa_tensor_get_data (estimate))[i]));
  r->last_done = done;
  r->last_total = total;
  r->steps_reported++;
  fa_backend_get_memory (cpu, &current, NULL);
  r->max_memory = MAX (r->max_memory, current);
  if (r->cancel_after_done > 0 && done == r->cancel_after_done)
    g_cancellable_cancel (r->cancel_at_step_cancellable);
}

static double
check_tap (Record *r, FaSafetensors *golden, const char *name, double tolerance)
{
  gint64 n;
  g_autofree double *want = golden_f64 (golden, name, &n);
  GArray *got = g_hash_table_lookup (r->taps, name);
  if (got == NULL)
    g_error ("the run gave no tap %s", name);
  g_assert_cmpint (got->len, ==, n);
  double err = fa_test_relative_error ((const float *) got->data, want, n);
  if (!(err <= tolerance))
    g_error ("%s: relative error %.3g exceeds %.3g", name, err, tolerance);
  return err;
}

/* Runs the variant with the stored noise and checks every tap, the SAR
 * flags and the result. */
static void
run_variant (const char *variant, gboolean sar, gboolean amm)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *file = g_strdup_printf ("edit-%s.safetensors", variant);
  FaSafetensors *golden = open_golden (file);
  EditInputs in;
  FaEditParams params;
  Record rec;

  edit_inputs_init (&in);
  golden_params (&params, sar, amm);
  record_init (&rec);
  FaEditInputs view = edit_inputs_view (&in);
  FaEditOptions options = { .noise = replay_noise, .tap = record_tap, .tap_user_data = &rec,
                            .step = record_step, .step_user_data = &rec };
  g_autoptr (FaTensor) result = fa_tensor_new (cpu, FA_DTYPE_F32, 5, in.x->shape, &error);
  fa_test_poison (fa_tensor_get_data (result), fa_tensor_get_numel (result));

  g_assert_true (fa_edit_run (dit, &view, &params, &options, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (rec.steps_reported, ==, 5);
  g_assert_cmpint (rec.last_total, ==, 5);

  double worst_z = 0.0, worst_dv = 0.0;
  char name[64];
  for (int i = 1; i <= 4; i++)
    {
      g_snprintf (name, sizeof name, "step%02d.dv", i);
      worst_dv = fmax (worst_dv, check_tap (&rec, golden, name, DV_TOLERANCE));
      g_snprintf (name, sizeof name, "step%02d.dv_amm", i);
      if (amm)
        worst_dv = fmax (worst_dv, check_tap (&rec, golden, name, DV_TOLERANCE));
      else
        g_assert_false (g_hash_table_contains (rec.taps, name));
      g_snprintf (name, sizeof name, "step%02d.z", i);
      worst_z = fmax (worst_z, check_tap (&rec, golden, name, Z_TOLERANCE));

      /* SAR's flag: the "sar" tap comes exactly on the steps it ran */
      g_snprintf (name, sizeof name, "step%02d.sar", i);
      int count;
      g_autofree int *flag = golden_ints (golden, name, &count);
      g_snprintf (name, sizeof name, "step%02d.sar", i);
      g_assert_cmpint (g_hash_table_contains (rec.taps, name), ==, flag[0] != 0);
    }
  worst_z = fmax (worst_z, check_tap (&rec, golden, "step05.z_init", Z_TOLERANCE));
  worst_z = fmax (worst_z, check_tap (&rec, golden, "step05.z", Z_TOLERANCE));

  gint64 n;
  g_autofree double *final = golden_f64 (golden, "final", &n);
  g_assert_cmpint (n, ==, fa_tensor_get_numel (result));
  double final_err = fa_test_relative_error (fa_tensor_get_data (result), final, n);
  g_assert_cmpfloat (final_err, <=, Z_TOLERANCE);
  g_test_message ("edit-%s: final %.3g, worst z %.3g, worst dV %.3g (relative)", variant, final_err,
                  worst_z, worst_dv);

  g_hash_table_unref (rec.taps);
  edit_inputs_clear (&in);
  fa_safetensors_unref (golden);
}

static void
test_golden_plain (void)
{
  run_variant ("plain", FALSE, FALSE);
}

static void
test_golden_sar (void)
{
  run_variant ("sar", TRUE, FALSE);
}

static void
test_golden_amm (void)
{
  run_variant ("amm", FALSE, TRUE);
}

static void
test_golden_sar_amm (void)
{
  run_variant ("sar_amm", TRUE, TRUE);
}

/* ---- the pieces ---- */

static void
test_sigmas (void)
{
  gint64 n, nt;
  g_autofree double *want = golden_f64 (inputs, "sigmas", &n);
  g_autofree double *want_t = golden_f64 (inputs, "timesteps", &nt);
  float sigmas[7];

  g_assert_cmpint (n, ==, 7);
  g_assert_cmpint (nt, ==, 6);
  fa_edit_sigmas (6, 5.0f, sigmas);
  for (int i = 0; i < 7; i++)
    g_assert_cmpfloat (sigmas[i], ==, (float) want[i]);
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat (1000.0f * sigmas[i], ==, (float) want_t[i]);

  /* a long schedule: from 1 down to 0, strictly decreasing */
  float long_sigmas[1001];
  fa_edit_sigmas (1000, 3.0f, long_sigmas);
  g_assert_cmpfloat (long_sigmas[0], ==, 1.0f);
  g_assert_cmpfloat (long_sigmas[1000], ==, 0.0f);
  for (int i = 0; i < 1000; i++)
    g_assert_cmpfloat (long_sigmas[i + 1], <, long_sigmas[i]);
}

static void
test_token_mask (void)
{
  g_autoptr (GError) error = NULL;
  gint64 n_pixels, n_tokens;
  g_autofree guint8 *masks = golden_bytes (inputs, "clip.masks", &n_pixels);
  g_autofree guint8 *want = golden_bytes (inputs, "token_mask", &n_tokens);
  guint8 got[72];

  g_assert_cmpint (n_pixels, ==, 9 * 64 * 96);
  /* the golden stores 1 for the edit region; the engine takes ≥ 128 */
  for (gint64 i = 0; i < n_pixels; i++)
    masks[i] = masks[i] ? 255 : 0;
  g_assert_true (fa_edit_token_mask (masks, 9, 64, 96, 2, 16, got, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (got, 72, want, n_tokens);

  /* one pixel: dilation reaches the neighbouring block only when it is
   * close enough, and frames group as 0 | 1–4 */
  g_autofree guint8 *one = g_new0 (guint8, 5 * 32 * 32);
  one[(3 * 32 + 15) * 32 + 14] = 200; /* frame 3, row 15, column 14 */
  guint8 tokens[2 * 2 * 2];
  g_assert_true (fa_edit_token_mask (one, 5, 32, 32, 0, 16, tokens, &error));
  g_assert_cmpmem (tokens, 8, ((guint8[]) { 0, 0, 0, 0, 1, 0, 0, 0 }), 8);
  g_assert_true (fa_edit_token_mask (one, 5, 32, 32, 1, 16, tokens, &error));
  g_assert_cmpmem (tokens, 8, ((guint8[]) { 0, 0, 0, 0, 1, 0, 1, 0 }), 8);
  g_assert_true (fa_edit_token_mask (one, 5, 32, 32, 2, 16, tokens, &error));
  g_assert_cmpmem (tokens, 8, ((guint8[]) { 0, 0, 0, 0, 1, 1, 1, 1 }), 8);
  one[(3 * 32 + 15) * 32 + 14] = 127; /* below the threshold */
  g_assert_true (fa_edit_token_mask (one, 5, 32, 32, 2, 16, tokens, &error));
  g_assert_cmpmem (tokens, 8, ((guint8[]) { 0, 0, 0, 0, 0, 0, 0, 0 }), 8);

  /* frame counts that are not 1 + 4k, sides that are not multiples */
  g_assert_false (fa_edit_token_mask (one, 4, 32, 32, 0, 16, tokens, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "frames");
  g_clear_error (&error);
  g_assert_false (fa_edit_token_mask (one, 5, 30, 32, 0, 16, tokens, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT);
}

static void
test_sar_unit (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) logits = golden_tensor (inputs, "sar_unit.logits_in");
  g_autoptr (FaTensor) original = golden_tensor (inputs, "sar_unit.logits_in");
  gint64 n, n_mask;
  g_autofree double *want = golden_f64 (inputs, "sar_unit.logits_out", &n);
  g_autofree guint8 *mask = golden_bytes (inputs, "sar_unit.token_mask", &n_mask);
  int n_j, count;
  g_autofree int *J = golden_ints (inputs, "sar_unit.J", &n_j);
  g_autofree int *n_real = golden_ints (inputs, "sar_unit.n_real", &count);

  g_assert_cmpint (n_mask, ==, logits->shape[1]);
  g_assert_true (fa_edit_sar_modulate (cpu, logits, mask, J, n_j, n_real[0], 0.3f, 0.3f, &error));
  g_assert_no_error (error);
  double err = fa_test_relative_error (fa_tensor_get_data (logits), want, n);
  g_test_message ("SAR unit case: relative error %.3g", err);
  g_assert_cmpfloat (err, <=, SAR_TOLERANCE);

  /* padding columns are bit for bit the input */
  const float *a = fa_tensor_get_data (logits), *b = fa_tensor_get_data (original);
  const gint64 L = logits->shape[2];
  for (gint64 r = 0; r < logits->shape[0] * logits->shape[1]; r++)
    g_assert_cmpmem (a + r * L + n_real[0], (L - n_real[0]) * 4, b + r * L + n_real[0], (L - n_real[0]) * 4);

  /* an empty J changes nothing */
  g_autoptr (FaTensor) untouched = golden_tensor (inputs, "sar_unit.logits_in");
  g_assert_true (fa_edit_sar_modulate (cpu, untouched, mask, NULL, 0, n_real[0], 0.3f, 0.3f, &error));
  g_assert_cmpmem (fa_tensor_get_data (untouched), fa_tensor_get_nbytes (untouched), b,
                   fa_tensor_get_nbytes (original));

  /* J outside the real tokens, and strengths out of range */
  int bad[] = { 1, 10 };
  g_assert_false (fa_edit_sar_modulate (cpu, untouched, mask, bad, 2, n_real[0], 0.3f, 0.3f, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "target token");
  g_clear_error (&error);
  g_assert_false (fa_edit_sar_modulate (cpu, untouched, mask, J, n_j, n_real[0], 1.5f, 0.3f, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "beta1");
}

static void
test_amm (void)
{
  g_autoptr (GError) error = NULL;
  const gint64 shape[5] = { 2, 16, 3, 8, 12 };
  g_autoptr (FaTensor) dv = fa_tensor_new (cpu, FA_DTYPE_F32, 5, shape, &error);
  const gint64 n = fa_tensor_get_numel (dv), per = n / 2, plane = 3 * 8 * 12;
  float *v = fa_tensor_get_data (dv);
  fa_test_fill_uniform (v, n, 81, -2.0f, 3.0f);

  /* float64 reference, element by element */
  g_autofree double *want = g_new (double, n);
  const double gamma_f = 1.5 * log (3.0) / log (21.0);
  for (int b = 0; b < 2; b++)
    {
      const float *x = v + b * per;
      double lo = INFINITY, hi = -INFINITY;
      g_autofree double *mean = g_new (double, plane);
      for (gint64 p = 0; p < plane; p++)
        {
          mean[p] = 0.0;
          for (int c = 0; c < 16; c++)
            mean[p] += x[c * plane + p];
          mean[p] /= 16.0;
          lo = fmin (lo, mean[p]);
          hi = fmax (hi, mean[p]);
        }
      for (int c = 0; c < 16; c++)
        for (gint64 p = 0; p < plane; p++)
          want[b * per + c * plane + p] = (1.0 + gamma_f * (mean[p] - lo) / (hi - lo + 1e-7)) * x[c * plane + p];
    }
  g_assert_true (fa_edit_amm (dv, 1.5f, 21, &error));
  g_assert_no_error (error);
  fa_test_assert_close (v, want, n, 1e-6);

  /* one latent frame: γ_F = 0, the identity */
  g_autoptr (FaTensor) single = fa_tensor_new (cpu, FA_DTYPE_F32, 5, (gint64[]) { 1, 16, 1, 4, 4 }, &error);
  fa_test_fill_uniform (fa_tensor_get_data (single), 256, 82, -1.0f, 1.0f);
  g_autofree float *copy = g_memdup2 (fa_tensor_get_data (single), 256 * sizeof (float));
  g_assert_true (fa_edit_amm (single, 1.0f, 21, &error));
  g_assert_cmpmem (fa_tensor_get_data (single), 256 * sizeof (float), copy, 256 * sizeof (float));

  g_assert_false (fa_edit_amm (single, 11.0f, 21, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "gamma");
}

typedef struct {
  const char *name;
  void (*set) (FaEditParams *p);
} BadParam;
static void set_bad_steps (FaEditParams *p) { p->steps = 0; }
static void set_bad_steps_high (FaEditParams *p) { p->steps = 1001; }
static void set_bad_n_max (FaEditParams *p) { p->n_max = p->steps + 1; }
static void set_bad_n_max_low (FaEditParams *p) { p->n_max = 0; }
static void set_bad_n_min (FaEditParams *p) { p->n_min = p->n_max + 1; }
static void set_bad_n_min_low (FaEditParams *p) { p->n_min = -1; }
static void set_bad_n_avg (FaEditParams *p) { p->n_avg = 33; }
static void set_bad_n_avg_low (FaEditParams *p) { p->n_avg = 0; }
static void set_bad_shift (FaEditParams *p) { p->shift = 0.5f; }
static void set_bad_shift_nan (FaEditParams *p) { p->shift = NAN; }
static void set_bad_cfg_source (FaEditParams *p) { p->cfg_source = -1.0f; }
static void set_bad_cfg_target (FaEditParams *p) { p->cfg_target = 51.0f; }
static void set_bad_tau (FaEditParams *p) { p->tau = 1.5f; }
static void set_bad_beta1 (FaEditParams *p) { p->beta1 = -0.1f; }
static void set_bad_beta2 (FaEditParams *p) { p->beta2 = 1.1f; }
static void set_bad_gamma (FaEditParams *p) { p->gamma = 10.5f; }
static void set_bad_gamma_frames (FaEditParams *p) { p->gamma_frames = 1; }
static void set_bad_mask_dilation (FaEditParams *p) { p->mask_dilation = 65; }
static void set_bad_blend_strength (FaEditParams *p) { p->blend_strength = 2.0f; }

static void
test_params (void)
{
  g_autoptr (GError) error = NULL;
  FaEditParams p;

  fa_edit_params_init (&p);
  g_assert_cmpint (p.steps, ==, 25);
  g_assert_cmpint (p.n_max, ==, 23);
  g_assert_cmpint (p.n_min, ==, 0);
  g_assert_cmpint (p.n_avg, ==, 1);
  g_assert_cmpfloat (p.shift, ==, 5.0f);
  g_assert_cmpfloat (p.cfg_source, ==, 5.0f);
  g_assert_cmpfloat (p.cfg_target, ==, 10.0f);
  g_assert_true (p.sar && p.amm && !p.blend_background);
  g_assert_cmpfloat (p.tau, ==, 0.6f);
  g_assert_cmpfloat (p.beta1, ==, 0.3f);
  g_assert_cmpfloat (p.beta2, ==, 0.3f);
  g_assert_cmpfloat (p.gamma, ==, 1.0f);
  g_assert_cmpint (p.gamma_frames, ==, 21);
  g_assert_cmpint (p.mask_dilation, ==, 2);
  g_assert_cmpfloat (p.blend_strength, ==, 1.0f);
  g_assert_true (fa_edit_params_check (&p, &error));
  g_assert_no_error (error);

  const BadParam bad[] = {
    { "steps", set_bad_steps }, { "steps", set_bad_steps_high }, { "n_max", set_bad_n_max },
    { "n_max", set_bad_n_max_low }, { "n_min", set_bad_n_min }, { "n_min", set_bad_n_min_low },
    { "n_avg", set_bad_n_avg }, { "n_avg", set_bad_n_avg_low }, { "shift", set_bad_shift },
    { "shift", set_bad_shift_nan }, { "cfg_source", set_bad_cfg_source },
    { "cfg_target", set_bad_cfg_target }, { "tau", set_bad_tau }, { "beta1", set_bad_beta1 },
    { "beta2", set_bad_beta2 }, { "gamma", set_bad_gamma }, { "gamma_frames", set_bad_gamma_frames },
    { "mask_dilation", set_bad_mask_dilation }, { "blend_strength", set_bad_blend_strength },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      fa_edit_params_init (&p);
      bad[i].set (&p);
      g_assert_false (fa_edit_params_check (&p, &error));
      g_autofree char *fragment = g_strdup_printf ("parameter %s is", bad[i].name);
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, fragment);
      g_assert_nonnull (strstr (error->message, "must be in ["));
      g_clear_error (&error);
    }

  /* the run refuses them too, before touching anything */
  EditInputs in;
  edit_inputs_init (&in);
  FaEditInputs view = edit_inputs_view (&in);
  g_autoptr (FaTensor) result = fa_tensor_new (cpu, FA_DTYPE_F32, 5, in.x->shape, &error);
  fa_edit_params_init (&p);
  p.n_avg = 0;
  g_assert_false (fa_edit_run (dit, &view, &p, NULL, result, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "n_avg");
  g_clear_error (&error);

  /* and a result of the wrong shape */
  g_autoptr (FaTensor) small = fa_tensor_new (cpu, FA_DTYPE_F32, 5, (gint64[]) { 1, 16, 3, 8, 8 }, &error);
  fa_edit_params_init (&p);
  g_assert_false (fa_edit_run (dit, &view, &p, NULL, small, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_SHAPE);
  edit_inputs_clear (&in);
}

/* ---- noise ---- */

static void
test_philox_kat (void)
{
  /* Random123's kat_vectors for philox4x32_10 */
  const struct {
    guint32 ctr[4], key[2], out[4];
  } kat[] = {
    { { 0, 0, 0, 0 }, { 0, 0 }, { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
    { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
      { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
    { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
      { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
  };
  for (guint i = 0; i < G_N_ELEMENTS (kat); i++)
    {
      guint32 out[4];
      fa_philox4x32_10 (kat[i].ctr, kat[i].key, out);
      for (int w = 0; w < 4; w++)
        g_assert_cmphex (out[w], ==, kat[i].out[w]);
    }
}

static FaTensor *
noise_of (guint64 seed, int step, int draw, gint64 n)
{
  g_autoptr (GError) error = NULL;
  FaTensor *t = fa_tensor_new (cpu, FA_DTYPE_F32, 1, &n, &error);
  g_assert_no_error (error);
  fa_test_poison (fa_tensor_get_data (t), n);
  g_assert_true (fa_edit_noise (cpu, seed, step, draw, t, &error));
  g_assert_no_error (error);
  return t;
}

static double
correlation (const float *a, const float *b, gint64 n)
{
  double sum = 0.0;
  for (gint64 i = 0; i < n; i++)
    sum += (double) a[i] * b[i];
  return sum / n;
}

static void
test_noise (void)
{
  const gint64 n = 1 << 20;
  g_autoptr (FaTensor) a = noise_of (7, 1, 0, n);
  const float *x = fa_tensor_get_data (a);

  double mean = 0.0, var = 0.0, fourth = 0.0;
  gint64 beyond3 = 0;
  for (gint64 i = 0; i < n; i++)
    {
      g_assert_true (isfinite (x[i]));
      mean += x[i];
    }
  mean /= n;
  for (gint64 i = 0; i < n; i++)
    {
      double d = x[i] - mean;
      var += d * d;
      fourth += d * d * d * d;
      beyond3 += fabs (x[i]) > 3.0;
    }
  var /= n;
  fourth /= n;
  g_test_message ("noise: mean %.5f, variance %.5f, kurtosis %.4f", mean, var, fourth / (var * var));
  g_assert_cmpfloat (fabs (mean), <, 0.005);
  g_assert_cmpfloat (fabs (var - 1.0), <, 0.01);
  g_assert_cmpfloat (fabs (fourth / (var * var) - 3.0), <, 0.05);   /* a normal's kurtosis */
  g_assert_cmpfloat (fabs ((double) beyond3 / n - 0.0027), <, 0.0005); /* P(|N| > 3) */
  /* neighbours within a group and across groups are uncorrelated */
  g_assert_cmpfloat (fabs (correlation (x, x + 1, n - 1)), <, 0.005);
  g_assert_cmpfloat (fabs (correlation (x, x + 2, n - 2)), <, 0.005);
  g_assert_cmpfloat (fabs (correlation (x, x + 4, n - 4)), <, 0.005);

  /* other draws, steps and seeds are independent streams */
  const guint64 seeds[] = { 7, 7, 8, G_GUINT64_CONSTANT (7) | (G_GUINT64_CONSTANT (1) << 32) };
  const int steps[] = { 1, 2, 1, 1 }, draws[] = { 1, 0, 0, 0 };
  for (guint i = 0; i < G_N_ELEMENTS (seeds); i++)
    {
      g_autoptr (FaTensor) b = noise_of (seeds[i], steps[i], draws[i], n);
      g_assert_cmpfloat (fabs (correlation (x, fa_tensor_get_data (b), n)), <, 0.005);
    }

  /* element k does not depend on the tensor's size, and a seed repeats */
  g_autoptr (FaTensor) small = noise_of (7, 1, 0, 7);
  g_assert_cmpmem (fa_tensor_get_data (small), 7 * sizeof (float), x, 7 * sizeof (float));
  g_autoptr (FaTensor) again = noise_of (7, 1, 0, n);
  g_assert_cmpmem (fa_tensor_get_data (again), n * sizeof (float), x, n * sizeof (float));

  /* the loops agree with the group function at an odd start */
  float part[5];
  fa_cpu_edit_noise (7, 1, 0, part, 3, 5);
  g_assert_cmpmem (part, sizeof part, x + 3, sizeof part);

  g_autoptr (GError) error = NULL;
  g_autoptr (FaTensor) ints = fa_tensor_new (cpu, FA_DTYPE_I32, 1, (gint64[]) { 4 }, &error);
  g_assert_false (fa_edit_noise (cpu, 1, 0, 0, ints, &error));
  g_assert_error (error, FA_ERROR, FA_ERROR_DTYPE);
}

/* ---- cancel, memory, estimate ---- */

static gboolean
replay_noise_cancelling (int step, int draw, FaTensor *noise, gpointer user_data, GError **error)
{
  Record *r = user_data;
  if (r->cancel_noise_step > 0 && step == r->cancel_noise_step && draw == r->cancel_noise_draw)
    g_cancellable_cancel (r->cancel_at_step_cancellable);
  return replay_noise (step, draw, noise, NULL, error);
}

/* Runs the sar_amm variant; cancels as @rec says. Returns the result's
 * relative error against the golden final, or -1 when the run failed. */
static double
run_sar_amm (Record *rec, GCancellable *cancellable, GError **error)
{
  g_autoptr (FaSafetensors) golden = open_golden ("edit-sar_amm.safetensors");
  EditInputs in;
  FaEditParams params;
  double err = -1.0;

  edit_inputs_init (&in);
  golden_params (&params, TRUE, TRUE);
  FaEditInputs view = edit_inputs_view (&in);
  FaEditOptions options = { .noise = replay_noise_cancelling, .noise_user_data = rec,
                            .tap = record_tap, .tap_user_data = rec, .step = record_step,
                            .step_user_data = rec, .cancellable = cancellable };
  g_autoptr (FaTensor) result = fa_tensor_new (cpu, FA_DTYPE_F32, 5, in.x->shape, NULL);
  if (fa_edit_run (dit, &view, &params, &options, result, error))
    {
      gint64 n;
      g_autofree double *final = golden_f64 (golden, "final", &n);
      err = fa_test_relative_error (fa_tensor_get_data (result), final, n);
    }
  edit_inputs_clear (&in);
  return err;
}

static void
expect_cancelled (Record *rec, GCancellable *cancellable, int steps_reported)
{
  g_autoptr (GError) error = NULL;
  g_assert_cmpfloat (run_sar_amm (rec, cancellable, &error), ==, -1.0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (rec->steps_reported, ==, steps_reported);
}

static void
test_cancel (void)
{
  g_autoptr (GError) error = NULL;
  guint64 held, now;

  /* The DiT keeps its activations sized for the batch of its last forward:
   * 4 in the FlowEdit phase, 2 in the plain phase. Each comparison of held
   * memory starts from a run that stopped in the same phase. */

  /* between steps: cancelled from the step callback after step 2 */
  g_autoptr (GCancellable) c1 = g_cancellable_new ();
  Record r1;
  record_init (&r1);
  r1.cancel_at_step_cancellable = c1;
  r1.cancel_after_done = 2;
  expect_cancelled (&r1, c1, 2);
  g_assert_false (g_hash_table_contains (r1.taps, "step03.dv"));
  fa_backend_get_memory (cpu, &held, NULL);

  /* inside a forward: cancelled while the second draw of step 2 is drawn,
   * so the DiT stops between its blocks */
  g_autoptr (GCancellable) c2 = g_cancellable_new ();
  Record r2;
  record_init (&r2);
  r2.cancel_at_step_cancellable = c2;
  r2.cancel_noise_step = 2;
  r2.cancel_noise_draw = 1;
  expect_cancelled (&r2, c2, 1);
  g_assert_false (g_hash_table_contains (r2.taps, "step02.dv"));
  fa_backend_get_memory (cpu, &now, NULL);
  g_assert_cmpuint (now, ==, held);

  /* a full run afterwards still matches, within the estimate */
  Record r3;
  record_init (&r3);
  guint64 start;
  fa_backend_get_memory (cpu, &start, NULL);
  double err = run_sar_amm (&r3, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (err, <=, Z_TOLERANCE);
  const gint64 latent[4] = { 16, 3, 8, 12 };
  guint64 estimate = fa_edit_estimate_bytes (dit, latent, 512);
  g_test_message ("memory: estimate %" G_GUINT64_FORMAT " bytes, held during the run %" G_GUINT64_FORMAT,
                  estimate, r3.max_memory - start);
  g_assert_cmpuint (r3.max_memory - start, <=, estimate);
  fa_backend_get_memory (cpu, &held, NULL);

  /* in the plain phase, in its forward */
  g_autoptr (GCancellable) c4 = g_cancellable_new ();
  Record r4;
  record_init (&r4);
  r4.cancel_at_step_cancellable = c4;
  r4.cancel_at_tap = "step05.z_init";
  expect_cancelled (&r4, c4, 4);
  g_assert_false (g_hash_table_contains (r4.taps, "step05.z"));
  fa_backend_get_memory (cpu, &now, NULL);
  g_assert_cmpuint (now, ==, held);

  Record r5;
  record_init (&r5);
  err = run_sar_amm (&r5, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (err, <=, Z_TOLERANCE);

  /* a cancellable cancelled before the start stops at once */
  Record r6;
  record_init (&r6);
  expect_cancelled (&r6, c1, 0);

  Record *all[] = { &r1, &r2, &r3, &r4, &r5, &r6 };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    g_hash_table_unref (all[i]->taps);
}

/* SAR off for an empty J, blending that keeps the background. */
static void
test_options (void)
{
  g_autoptr (GError) error = NULL;
  EditInputs in;
  FaEditParams params;

  edit_inputs_init (&in);
  FaEditInputs view = edit_inputs_view (&in);
  FaEditOptions options = { .noise = replay_noise };
  g_autoptr (FaTensor) with_sar = fa_tensor_new (cpu, FA_DTYPE_F32, 5, in.x->shape, &error);
  g_autoptr (FaTensor) no_j = fa_tensor_new (cpu, FA_DTYPE_F32, 5, in.x->shape, &error);
  g_autoptr (FaTensor) plain = fa_tensor_new (cpu, FA_DTYPE_F32, 5, in.x->shape, &error);
  g_autoptr (FaTensor) blended = fa_tensor_new (cpu, FA_DTYPE_F32, 5, in.x->shape, &error);
  const gint64 n = fa_tensor_get_numel (plain);

  golden_params (&params, FALSE, FALSE);
  g_assert_true (fa_edit_run (dit, &view, &params, &options, plain, &error));
  golden_params (&params, TRUE, FALSE);
  g_assert_true (fa_edit_run (dit, &view, &params, &options, with_sar, &error));
  view.n_target_tokens = 0;
  g_assert_true (fa_edit_run (dit, &view, &params, &options, no_j, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (fa_tensor_get_data (no_j), n * 4, fa_tensor_get_data (plain), n * 4);
  g_assert_true (memcmp (fa_tensor_get_data (with_sar), fa_tensor_get_data (plain), n * 4) != 0);

  /* blending at full strength: after the first step the background is
   * the source again (w = 1), the edit region is not */
  golden_params (&params, FALSE, FALSE);
  params.blend_background = TRUE;
  Record rec;
  record_init (&rec);
  options.tap = record_tap;
  options.tap_user_data = &rec;
  g_assert_true (fa_edit_run (dit, &view, &params, &options, blended, &error));
  g_assert_no_error (error);
  GArray *first = g_hash_table_lookup (rec.taps, "step01.z");
  g_assert_nonnull (first);
  const float *x = fa_tensor_get_data (in.x), *z = (const float *) first->data;
  double background = 0.0, edited = 0.0;
  const gint64 plane = 3 * 8 * 12;
  for (gint64 i = 0; i < n; i++)
    {
      gint64 pos = i % plane, f = pos / 96, h = (pos / 12) % 8, w = pos % 12;
      double d = fabs (z[i] - x[i]);
      if (in.token_mask[(f * 4 + h / 2) * 6 + w / 2])
        edited = fmax (edited, d);
      else
        background = fmax (background, d);
    }
  g_test_message ("blend: after step 1, max |z − x| %.3g outside the mask, %.3g inside", background, edited);
  g_assert_cmpfloat (background, <=, 1e-6);
  g_assert_cmpfloat (edited, >, 1e-3);
  g_assert_true (memcmp (fa_tensor_get_data (blended), fa_tensor_get_data (plain), n * 4) != 0);
  g_hash_table_unref (rec.taps);

  /* blending needs the mask */
  view.token_mask = NULL;
  g_assert_false (fa_edit_run (dit, &view, &params, &options, blended, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "token mask");
  edit_inputs_clear (&in);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;

  g_test_init (&argc, &argv, NULL);
  cpu = fa_backend_new_cpu ();
  inputs = open_golden ("edit-inputs.safetensors");
  g_autofree char *path = data_path ("wan-tiny/transformer");
  dit = fa_wan_dit_load (path, cpu, &error);
  g_assert_no_error (error);

  g_test_add_func ("/edit/params", test_params);
  g_test_add_func ("/edit/sigmas", test_sigmas);
  g_test_add_func ("/edit/token-mask", test_token_mask);
  g_test_add_func ("/edit/sar-unit", test_sar_unit);
  g_test_add_func ("/edit/amm", test_amm);
  g_test_add_func ("/edit/noise/philox-kat", test_philox_kat);
  g_test_add_func ("/edit/noise/streams", test_noise);
  g_test_add_func ("/edit/golden/plain", test_golden_plain);
  g_test_add_func ("/edit/golden/sar", test_golden_sar);
  g_test_add_func ("/edit/golden/amm", test_golden_amm);
  g_test_add_func ("/edit/golden/sar_amm", test_golden_sar_amm);
  g_test_add_func ("/edit/cancel", test_cancel);
  g_test_add_func ("/edit/options", test_options);

  int status = g_test_run ();
  fa_wan_dit_free (dit);
  fa_safetensors_unref (inputs);
  fa_backend_unref (cpu);
  return status;
}
