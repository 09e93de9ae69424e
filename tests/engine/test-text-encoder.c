/* A prompt to the Wan context through the tiny tokenizer and encoder,
 * against the context golden of transformers + diffusers
 * (goldens/umt5.safetensors: WanPipeline._get_t5_prompt_embeds), and the
 * prompt cache in that path.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>

#include "fa-test-util.h"
#include "fa-text-encoder.h"

static FaBackend *cpu;

static char *
data_path (const char *relative)
{
  return g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", relative, NULL);
}

typedef struct {
  FaSafetensors *goldens;
  FaTokenizer *tokenizer;
  FaUmt5 *model;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *goldens = data_path ("goldens/umt5.safetensors");
  g_autofree char *tokenizer = data_path ("wan-tiny/tokenizer");
  g_autofree char *model = data_path ("wan-tiny/text_encoder");

  f->goldens = fa_safetensors_open (goldens, &error);
  g_assert_no_error (error);
  f->tokenizer = fa_tokenizer_load (tokenizer, &error);
  g_assert_no_error (error);
  f->model = fa_umt5_load (model, cpu, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  fa_umt5_free (f->model);
  fa_tokenizer_free (f->tokenizer);
  fa_safetensors_unref (f->goldens);
}

static char *
prompt_of (Fixture *f, int b)
{
  char name[32];
  g_snprintf (name, sizeof name, "prompt.%d", b);
  const FaSafetensorsEntry *entry = fa_safetensors_lookup (f->goldens, name);
  g_assert_nonnull (entry);
  return entry->nbytes == 0 ? g_strdup ("") : g_strndup (entry->data, entry->nbytes);
}

/* Golden context row block of prompt @b, and its n_real. */
static float *
golden_context (Fixture *f, int b, gint64 *out_rows, gint64 *out_n_real)
{
  const FaSafetensorsEntry *context = fa_safetensors_lookup (f->goldens, "context");
  const FaSafetensorsEntry *n_real = fa_safetensors_lookup (f->goldens, "n_real");
  gint64 rows = context->shape[1], width = context->shape[2];
  gsize block = (gsize) rows * width * sizeof (float);
  gint64 n;

  memcpy (&n, (const guint8 *) n_real->data + b * sizeof (gint64), sizeof n);
  *out_rows = rows;
  *out_n_real = n;
  return g_memdup2 ((const guint8 *) context->data + b * block, block);
}

static void
check_context (Fixture *f, int b, const FaTensor *got)
{
  gint64 rows, n_real;
  g_autofree float *want = golden_context (f, b, &rows, &n_real);
  gint64 width = fa_umt5_get_config (f->model)->d_model;
  const float *values = fa_tensor_get_data (got);

  g_assert_cmpint (got->shape[0], ==, rows);
  g_assert_cmpint (got->shape[1], ==, width);
  double error = fa_test_l2_relative_error (values, want, n_real * width);
  if (!(error <= 1e-5))
    g_error ("prompt %d: context relative error %.3g", b, error);
  for (gint64 i = n_real * width; i < rows * width; i++)
    g_assert_cmpfloat (values[i], ==, 0.0f); /* exactly zero, as Wan pads */
}

static void
test_prompts_match_the_pipeline (Fixture *f, gconstpointer data)
{
  for (int b = 0; b < 4; b++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *prompt = prompt_of (f, b);
      gboolean hit = TRUE;
      g_autoptr (FaTensor) context = fa_encode_prompt (f->tokenizer, f->model, NULL, prompt, 512, &hit, &error);
      g_assert_no_error (error);
      g_assert_false (hit);
      check_context (f, b, context);
    }
}

static void
test_cache_in_the_path (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = fa_test_make_folder ("fa-text-cache-XXXXXX");
  g_autoptr (FaPromptCache) cache = fa_prompt_cache_new (dir, 1 << 24, &error);
  g_autofree char *prompt = prompt_of (f, 0);
  gboolean hit = TRUE;

  g_autoptr (FaTensor) first = fa_encode_prompt (f->tokenizer, f->model, cache, prompt, 512, &hit, &error);
  g_assert_no_error (error);
  g_assert_false (hit);
  g_autoptr (FaTensor) second = fa_encode_prompt (f->tokenizer, f->model, cache, prompt, 512, &hit, &error);
  g_assert_true (hit);
  g_assert_cmpmem (fa_tensor_get_data (first), fa_tensor_get_nbytes (first), fa_tensor_get_data (second),
                   fa_tensor_get_nbytes (second));
  check_context (f, 0, second);

  /* the same words with other spacing clean to the same prompt: a hit */
  g_autofree char *spaced = g_strconcat ("  ", prompt, "\t", NULL);
  g_autoptr (FaTensor) third = fa_encode_prompt (f->tokenizer, f->model, cache, spaced, 512, &hit, &error);
  g_assert_true (hit);
  g_assert_cmpmem (fa_tensor_get_data (first), fa_tensor_get_nbytes (first), fa_tensor_get_data (third),
                   fa_tensor_get_nbytes (third));

  /* a damaged entry is recomputed, not an error */
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_assert_true (g_file_set_contents (path, "not safetensors", -1, NULL));
    }
  g_autoptr (FaTensor) fourth = fa_encode_prompt (f->tokenizer, f->model, cache, prompt, 512, &hit, &error);
  g_assert_no_error (error);
  g_assert_false (hit);
  check_context (f, 0, fourth);

  fa_test_remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_nonnull (g_getenv ("FA_TEST_SRCDIR"));
  cpu = fa_backend_new_cpu ();

  g_test_add ("/text-encoder/prompts-match-the-pipeline", Fixture, NULL, fixture_set_up,
              test_prompts_match_the_pipeline, fixture_tear_down);
  g_test_add ("/text-encoder/cache-in-the-path", Fixture, NULL, fixture_set_up, test_cache_in_the_path,
              fixture_tear_down);

  int status = g_test_run ();
  fa_backend_unref (cpu);
  return status;
}
