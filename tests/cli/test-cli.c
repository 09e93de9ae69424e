/* The flowanchor command-line tool, run as a user runs it.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "config.h"
#include <signal.h>
#include <sys/wait.h>

#include "fa-backend.h"
#include "fa-clip.h"
#include "fa-project.h"
#include "fa-safetensors.h"
#include "fa-media-util.h"
#include "fa-model-download.h"
#include "fa-model-find.h"
#include "fa-png.h"
#include "fa-test-hub.h"
#include "fa-test-util.h"

typedef struct {
  int status;
  char *out;
  char *err;
} Run;

static void
run_clear (Run *run)
{
  g_free (run->out);
  g_free (run->err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

static void
run_cli (Run *run, const char *const *env_extra, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (GStrv) env = g_get_environ ();
  g_autoptr (GError) error = NULL;
  va_list args;
  const char *arg;

  g_ptr_array_add (argv, (gpointer) g_getenv ("FA_CLI"));
  va_start (args, env_extra);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  for (; env_extra != NULL && *env_extra != NULL; env_extra += 2)
    env = g_environ_setenv (env, env_extra[0], env_extra[1], TRUE);

  int wait_status = 0;
  g_spawn_sync (NULL, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &run->out, &run->err,
                &wait_status, &error);
  g_assert_no_error (error);
  if (!WIFEXITED (wait_status))
    g_error ("%s %s died (wait status %d); its stderr:\n%s", (char *) argv->pdata[0],
             (char *) argv->pdata[1], wait_status, run->err);
  run->status = WEXITSTATUS (wait_status);
}

static FaTensor *
host_tensor (FaBackend *cpu, FaDType dtype, int ndim, const gint64 *shape)
{
  FaTensor *t = fa_tensor_new (cpu, dtype, ndim, shape, NULL);
  memset (fa_tensor_get_data (t), 0, fa_tensor_get_nbytes (t));
  return t;
}

/* Two shards and an index, like a diffusers component folder. */
static char *
make_model_folder (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  char *root = g_dir_make_tmp ("fa-cli-XXXXXX", &error);
  g_autofree char *transformer = g_build_filename (root, "transformer", NULL);
  g_autofree char *tokenizer = g_build_filename (root, "tokenizer", NULL);
  g_autofree char *shard1 = g_build_filename (transformer, "diffusion_pytorch_model-00001-of-00002.safetensors", NULL);
  g_autofree char *shard2 = g_build_filename (transformer, "diffusion_pytorch_model-00002-of-00002.safetensors", NULL);
  g_autofree char *index = g_build_filename (transformer, "diffusion_pytorch_model.safetensors.index.json", NULL);
  g_autofree char *model_index = g_build_filename (root, "model_index.json", NULL);
  g_autoptr (FaTensor) q = host_tensor (cpu, FA_DTYPE_BF16, 2, (gint64[]) { 6, 4 });
  g_autoptr (FaTensor) bias = host_tensor (cpu, FA_DTYPE_F32, 1, (gint64[]) { 6 });
  g_autoptr (FaTensor) table = host_tensor (cpu, FA_DTYPE_F32, 3, (gint64[]) { 1, 6, 4 });

  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir (transformer, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (tokenizer, 0700), ==, 0);
  g_assert_true (fa_safetensors_write (shard1, 2, (const char *[]) { "blocks.0.attn1.to_q.weight", "blocks.0.attn1.to_q.bias" },
                                       (FaTensor *[]) { q, bias }, NULL, &error));
  g_assert_true (fa_safetensors_write (shard2, 1, (const char *[]) { "scale_shift_table" },
                                       (FaTensor *[]) { table }, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (index,
    "{\"metadata\": {\"total_size\": 168}, \"weight_map\": {"
    "\"blocks.0.attn1.to_q.weight\": \"diffusion_pytorch_model-00001-of-00002.safetensors\","
    "\"blocks.0.attn1.to_q.bias\": \"diffusion_pytorch_model-00001-of-00002.safetensors\","
    "\"scale_shift_table\": \"diffusion_pytorch_model-00002-of-00002.safetensors\"}}", -1, &error));
  g_assert_true (g_file_set_contents (model_index, "{\"_class_name\": \"WanPipeline\"}", -1, &error));
  return root;
}

static void
test_version_and_usage (void)
{
  g_auto (Run) version = { 0 }, none = { 0 }, unknown = { 0 }, help = { 0 };

  run_cli (&version, NULL, "--version", NULL);
  g_assert_cmpint (version.status, ==, 0);
  g_assert_cmpstr (version.out, ==, "flowanchor " PACKAGE_VERSION "\n");

  run_cli (&none, NULL, NULL);
  g_assert_cmpint (none.status, ==, 2);
  g_assert_nonnull (strstr (none.err, "Usage: flowanchor"));

  run_cli (&unknown, NULL, "frobnicate", NULL);
  g_assert_cmpint (unknown.status, ==, 2);
  g_assert_nonnull (strstr (unknown.err, "unknown verb 'frobnicate'"));

  run_cli (&help, NULL, "--help", NULL);
  g_assert_cmpint (help.status, ==, 0);
  g_assert_nonnull (strstr (help.out, "inspect"));
  g_assert_nonnull (strstr (help.out, "doctor"));
}

static void
test_inspect_file_set_and_folder (void)
{
  g_autofree char *root = make_model_folder ();
  g_autofree char *transformer = g_build_filename (root, "transformer", NULL);
  g_autofree char *index = g_build_filename (transformer, "diffusion_pytorch_model.safetensors.index.json", NULL);
  g_autofree char *shard1 = g_build_filename (transformer, "diffusion_pytorch_model-00001-of-00002.safetensors", NULL);
  g_auto (Run) file = { 0 }, set = { 0 }, folder = { 0 }, pipeline = { 0 }, summary = { 0 };

  run_cli (&file, NULL, "inspect", shard1, NULL);
  g_assert_cmpint (file.status, ==, 0);
  g_assert_nonnull (strstr (file.out, "blocks.0.attn1.to_q.weight"));
  g_assert_true (g_regex_match_simple ("to_q\\.weight +bf16 +\\[6, 4\\]", file.out, 0, 0));
  g_assert_true (g_regex_match_simple ("to_q\\.bias +f32 +\\[6\\]", file.out, 0, 0));
  g_assert_nonnull (strstr (file.out, "2 tensors, 30 parameters"));
  g_assert_null (strstr (file.out, "scale_shift_table"));

  run_cli (&set, NULL, "inspect", index, NULL);
  g_assert_cmpint (set.status, ==, 0);
  g_assert_nonnull (strstr (set.out, "2 files"));
  g_assert_nonnull (strstr (set.out, "scale_shift_table"));
  g_assert_nonnull (strstr (set.out, "3 tensors, 54 parameters"));

  run_cli (&folder, NULL, "inspect", transformer, NULL);
  g_assert_cmpint (folder.status, ==, 0);
  g_assert_nonnull (strstr (folder.out, "3 tensors, 54 parameters"));

  /* a whole diffusers folder: tokenizer/ holds no weights and is skipped */
  run_cli (&pipeline, NULL, "inspect", root, NULL);
  g_assert_cmpint (pipeline.status, ==, 0);
  g_assert_nonnull (strstr (pipeline.out, "transformer"));
  g_assert_nonnull (strstr (pipeline.out, "3 tensors, 54 parameters"));

  run_cli (&summary, NULL, "inspect", "--summary", transformer, NULL);
  g_assert_cmpint (summary.status, ==, 0);
  g_assert_null (strstr (summary.out, "scale_shift_table"));
  g_assert_nonnull (strstr (summary.out, "3 tensors, 54 parameters"));

  fa_test_remove_tree (root);
}

static void
test_inspect_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *root = g_dir_make_tmp ("fa-cli-XXXXXX", &error);
  g_autofree char *corrupt = g_build_filename (root, "bad.safetensors", NULL);
  g_autofree char *missing = g_build_filename (root, "missing.safetensors", NULL);
  g_auto (Run) bad = { 0 }, absent = { 0 }, empty = { 0 }, usage = { 0 };

  /* a header that claims more bytes than the file has */
  g_assert_true (g_file_set_contents (corrupt, "\xff\x00\x00\x00\x00\x00\x00\x00{}", 10, &error));

  run_cli (&bad, NULL, "inspect", corrupt, NULL);
  g_assert_cmpint (bad.status, ==, 1);
  g_assert_true (g_str_has_prefix (bad.err, "flowanchor inspect: "));
  g_assert_nonnull (strstr (bad.err, corrupt));
  g_assert_cmpstr (bad.out, ==, "");

  run_cli (&absent, NULL, "inspect", missing, NULL);
  g_assert_cmpint (absent.status, ==, 1);
  g_assert_nonnull (strstr (absent.err, missing));

  g_assert_cmpint (g_unlink (corrupt), ==, 0);
  run_cli (&empty, NULL, "inspect", root, NULL);
  g_assert_cmpint (empty.status, ==, 1);
  g_assert_nonnull (strstr (empty.err, "no .safetensors"));

  run_cli (&usage, NULL, "inspect", NULL);
  g_assert_cmpint (usage.status, ==, 2);

  fa_test_remove_tree (root);
}

static void
test_doctor (void)
{
  const char *no_model[] = { "FLOWANCHOR_MODEL_DIR", "/nonexistent/wan", NULL };
  g_auto (Run) run = { 0 };

  run_cli (&run, no_model, "doctor", NULL);
  g_assert_true (g_str_has_prefix (run.out, "FlowAnchor " PACKAGE_VERSION));
  g_assert_true (g_regex_match_simple ("^  cpu +yes +CPU", run.out, G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^  cuda +(yes|no) +\\S", run.out, G_REGEX_MULTILINE, 0));
  for (const char *const *element = (const char *[]) { "decodebin3", "x264enc", "vp9enc", "mp4mux",
                                                        "webmmux", "qtdemux", "opusenc", NULL };
       *element != NULL; element++)
    {
      g_autofree char *pattern = g_strdup_printf ("^  %s +(yes|MISSING) ", *element);
      g_assert_true (g_regex_match_simple (pattern, run.out, G_REGEX_MULTILINE, 0));
    }
  g_assert_nonnull (strstr (run.out, "/nonexistent/wan (from FLOWANCHOR_MODEL_DIR)"));
  g_assert_nonnull (strstr (run.out, "the folder does not exist"));
  /* the exit status follows what is missing */
  g_assert_cmpint (run.status, ==, strstr (run.out, "MISSING") != NULL ? 1 : 0);
}

static void
test_bench (void)
{
  g_auto (Run) run = { 0 }, bad_backend = { 0 }, no_verb = { 0 };

  run_cli (&run, NULL, "bench", "ops", "--backend", "cpu", "--tokens", "8", "--repeat", "1", NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_true (g_str_has_prefix (run.out, "CPU"));
  for (const char *const *op = (const char *[]) { "linear qkvo", "linear ffn up", "linear ffn down",
                                                   "layer_norm", "rms_norm", "gelu_tanh", "silu",
                                                   "softmax", "add", "mul", "convert", NULL };
       *op != NULL; op++)
    {
      /* each op on its own line with a time and a rate */
      g_autofree char *pattern = g_strdup_printf ("^  %s.* f32 +[0-9.]+ ms +[0-9.]+ (GFLOP|GB)/s$", *op);
      if (!g_regex_match_simple (pattern, run.out, G_REGEX_MULTILINE, 0))
        g_error ("no line for %s in:\n%s", *op, run.out);
    }
  g_assert_true (g_regex_match_simple ("\\[8, 8960\\] → 1536", run.out, 0, 0));
  g_assert_nonnull (strstr (run.out, "peak cpu memory"));

  run_cli (&bad_backend, NULL, "bench", "ops", "--backend", "tpu", NULL);
  g_assert_cmpint (bad_backend.status, ==, 2);
  g_assert_nonnull (strstr (bad_backend.err, "unknown backend 'tpu'"));

  run_cli (&no_verb, NULL, "bench", NULL);
  g_assert_cmpint (no_verb.status, ==, 2);
}

static char *
data_path (const char *relative)
{
  return g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", relative, NULL);
}

static void
test_debug_and_bench_dit (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("fa-cli-dit-XXXXXX", &error);
  g_autofree char *out = g_build_filename (dir, "velocity.safetensors", NULL);
  g_autofree char *model = data_path ("wan-tiny/transformer");
  g_autofree char *inputs = data_path ("goldens/dit.safetensors");
  g_auto (Run) debug = { 0 }, missing = { 0 }, bench = { 0 }, usage = { 0 };

  /* one forward from the golden inputs reproduces the golden velocity */
  run_cli (&debug, NULL, "debug", "dit", "--model", model, "--inputs", inputs, "--prefix", "case3.",
           "--out", out, "--device", "cpu", NULL);
  g_assert_cmpint (debug.status, ==, 0);
  g_autoptr (FaSafetensors) written = fa_safetensors_open (out, &error);
  g_autoptr (FaSafetensors) goldens = fa_safetensors_open (inputs, &error);
  g_assert_no_error (error);
  const FaSafetensorsEntry *got = fa_safetensors_lookup (written, "velocity");
  const FaSafetensorsEntry *want = fa_safetensors_lookup (goldens, "case3.velocity");
  g_assert_nonnull (got);
  g_assert_cmpuint (got->nbytes, ==, want->nbytes);
  g_autofree float *a = g_memdup2 (got->data, got->nbytes);
  g_autofree float *b = g_memdup2 (want->data, want->nbytes);
  g_assert_cmpfloat (fa_test_l2_relative_error (a, b, got->nbytes / 4), <=, 1e-5);

  run_cli (&missing, NULL, "debug", "dit", "--model", model, "--inputs", inputs, "--out", out, NULL);
  g_assert_cmpint (missing.status, ==, 1);
  g_assert_nonnull (strstr (missing.err, "has no tensor 'latents'"));

  run_cli (&bench, NULL, "bench", "dit", "--model", model, "--device", "cpu", "--batch", "2", "--repeat", "1", NULL);
  g_assert_cmpint (bench.status, ==, 0);
  g_assert_true (g_regex_match_simple ("^forward: [0-9.]+ ms \\(median of 1\\), [0-9.]+ TFLOP/s", bench.out,
                                       G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^peak cpu memory during a forward: ", bench.out, G_REGEX_MULTILINE, 0));
  g_assert_nonnull (strstr (bench.out, "batch 2 × 5 frames × 64×96 pixels = 48 tokens each"));

  run_cli (&usage, NULL, "bench", "dit", NULL);
  g_assert_cmpint (usage.status, ==, 2);

  fa_test_remove_tree (dir);
}

static void
test_debug_tokenize_and_t5 (void)
{
  g_autofree char *dir = fa_test_make_folder ("fa-cli-t5-XXXXXX");
  g_autofree char *out = g_build_filename (dir, "context.safetensors", NULL);
  g_autofree char *pipeline = data_path ("wan-tiny");
  g_autofree char *tokenizer = data_path ("wan-tiny/tokenizer");
  const char *cache_env[] = { "XDG_CACHE_HOME", dir, NULL };
  g_auto (Run) tokens = { 0 }, first = { 0 }, again = { 0 }, bad = { 0 };

  run_cli (&tokens, NULL, "debug", "tokenize", "--tokenizer", tokenizer, "a shiny  blue cube", NULL);
  g_assert_cmpint (tokens.status, ==, 0);
  g_assert_nonnull (strstr (tokens.out, "cleaned: \"a shiny blue cube\""));
  g_assert_true (g_regex_match_simple ("^[0-9]+\t1\t\"</s>\"\t-1", tokens.out, G_REGEX_MULTILINE, 0));

  /* the second run of the same prompt comes from the cache in XDG_CACHE_HOME */
  run_cli (&first, cache_env, "debug", "t5", "--model", pipeline, "--prompt", "A red fox.", "--out", out,
           "--device", "cpu", NULL);
  g_assert_cmpint (first.status, ==, 0);
  g_assert_nonnull (strstr (first.out, "encoded"));
  run_cli (&again, cache_env, "debug", "t5", "--model", pipeline, "--prompt", " A red  fox.", "--out", out,
           "--device", "cpu", NULL);
  g_assert_cmpint (again.status, ==, 0);
  g_assert_nonnull (strstr (again.out, "from the prompt cache"));
  g_autoptr (GError) error = NULL;
  g_autoptr (FaSafetensors) written = fa_safetensors_open (out, &error);
  g_assert_no_error (error);
  const FaSafetensorsEntry *context = fa_safetensors_lookup (written, "context");
  g_assert_nonnull (context);
  g_assert_cmpint (context->shape[0], ==, 512);
  g_assert_cmpint (context->shape[1], ==, 32);

  run_cli (&bad, cache_env, "debug", "t5", "--model", "/nonexistent/text_encoder", "--prompt", "x", "--out", out, NULL);
  g_assert_cmpint (bad.status, ==, 1);
  g_assert_nonnull (strstr (bad.err, "/nonexistent/text_encoder"));

  fa_test_remove_tree (dir);
}

/* max|y − ref| / max|ref| between a written tensor and a golden one of the
 * same element count; the output's shape is checked against @ndim and the
 * golden's trailing axes (an unbatched output drops the leading 1). */
static double
written_vs_golden (const char *path, const char *name, int ndim, FaSafetensors *goldens, const char *golden)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaSafetensors) written = fa_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fa_safetensors_get_n_tensors (written), ==, 1);
  const FaSafetensorsEntry *got = fa_safetensors_lookup (written, name);
  const FaSafetensorsEntry *want = fa_safetensors_lookup (goldens, golden);
  g_assert_nonnull (got);
  g_assert_nonnull (want);
  g_assert_cmpint (got->dtype, ==, FA_DTYPE_F32);
  g_assert_cmpint (got->ndim, ==, ndim);
  for (int i = 1; i <= ndim; i++)
    g_assert_cmpint (got->shape[ndim - i], ==, want->shape[want->ndim - i]);
  g_assert_cmpuint (got->nbytes, ==, want->nbytes);

  g_autofree float *y = g_memdup2 (got->data, got->nbytes);
  g_autofree float *ref = g_memdup2 (want->data, want->nbytes);
  double max_diff = 0, max_ref = 0;
  for (gsize i = 0; i < got->nbytes / sizeof (float); i++)
    {
      if (!isfinite (y[i]))
        return INFINITY;
      max_diff = fmax (max_diff, fabs ((double) y[i] - ref[i]));
      max_ref = fmax (max_ref, fabs ((double) ref[i]));
    }
  return max_diff / fmax (max_ref, 1e-30);
}

/* A golden f32 [B, C, T, H, W] tensor (optionally its first @frames
 * frames, or without its batch axis) on its own in a file, as a user would
 * bring it. */
static void
write_golden_slice (FaSafetensors *goldens, const char *golden, gint64 frames, gboolean drop_batch,
                    const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) cpu = fa_backend_new_cpu ();
  const FaSafetensorsEntry *entry = fa_safetensors_lookup (goldens, golden);
  g_assert_nonnull (entry);
  g_assert_cmpint (entry->ndim, ==, 5);
  gint64 shape[5];
  memcpy (shape, entry->shape, sizeof shape);
  shape[2] = frames > 0 ? frames : shape[2];
  g_autoptr (FaTensor) copy = fa_tensor_new (cpu, FA_DTYPE_F32, 5, shape, &error);
  g_assert_no_error (error);

  /* frame t of channel c is a contiguous run, so each channel's first
   * frames are one copy */
  gsize kept = shape[2] * shape[3] * shape[4] * sizeof (float);
  gsize stride = entry->shape[2] * shape[3] * shape[4] * sizeof (float);
  for (gint64 i = 0; i < shape[0] * shape[1]; i++)
    memcpy ((char *) fa_tensor_get_data (copy) + i * kept, (const char *) entry->data + i * stride, kept);

  g_autoptr (FaTensor) shaped = drop_batch ? fa_tensor_reshape (copy, 4, &shape[1], &error) : fa_tensor_ref (copy);
  g_assert_no_error (error);
  g_assert_true (fa_safetensors_write (path, 1, (const char *[]) { "x" }, &shaped, NULL, &error));
  g_assert_no_error (error);
}

static void
test_debug_vae (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = fa_test_make_folder ("fa-cli-vae-XXXXXX");
  g_autofree char *latent = g_build_filename (dir, "latent.safetensors", NULL);
  g_autofree char *raw = g_build_filename (dir, "raw.safetensors", NULL);
  g_autofree char *video = g_build_filename (dir, "video.safetensors", NULL);
  g_autofree char *unbatched = g_build_filename (dir, "unbatched.safetensors", NULL);
  g_autofree char *decode_in = g_build_filename (dir, "decode-in.safetensors", NULL);
  g_autofree char *eight = g_build_filename (dir, "eight-frames.safetensors", NULL);
  g_autofree char *pipeline = data_path ("wan-tiny");
  g_autofree char *single = data_path ("original/wan-tiny-vae.safetensors");
  g_autofree char *golden_path = data_path ("goldens/vae.safetensors");
  g_autoptr (FaSafetensors) goldens = fa_safetensors_open (golden_path, &error);
  g_auto (Run) encode = { 0 }, encode_raw = { 0 }, decode = { 0 }, frames = { 0 }, ambiguous = { 0 };
  g_auto (Run) no_model = { 0 }, bad_tile = { 0 };
  g_assert_no_error (error);

  /* the golden clip straight from the goldens file, picked by name; the
   * pipeline folder stands for its vae/ */
  run_cli (&encode, NULL, "debug", "vae-encode", "--model", pipeline, "--in", golden_path,
           "--tensor", "encode9.video", "--out", latent, "--backend", "cpu", "--progress", NULL);
  if (encode.status != 0)
    g_error ("vae-encode failed (%d):\n%s", encode.status, encode.err);
  g_assert_cmpfloat (written_vs_golden (latent, "latent", 5, goldens, "encode9.latent"), <=, 1e-4);
  /* progress goes to stderr only, and only because --progress asked */
  g_assert_true (g_regex_match_simple ("^encode: chunk [0-9]+/[0-9]+$", encode.err, G_REGEX_MULTILINE, 0));
  g_assert_null (strstr (encode.out, "chunk"));
  g_assert_nonnull (strstr (encode.out, latent));

  /* a clip without a batch axis gets a latent without one; --raw is μ */
  write_golden_slice (goldens, "encode9.video", 0, TRUE, unbatched);
  run_cli (&encode_raw, NULL, "debug", "vae-encode", "--model", pipeline, "--in", unbatched, "--out", raw,
           "--backend", "cpu", "--raw", NULL);
  if (encode_raw.status != 0)
    g_error ("vae-encode --raw failed (%d):\n%s", encode_raw.status, encode_raw.err);
  g_assert_cmpfloat (written_vs_golden (raw, "latent", 4, goldens, "encode9.mean"), <=, 1e-4);
  g_assert_null (strstr (encode_raw.err, "chunk"));

  /* the single original-names fp16 file gives the same weights */
  write_golden_slice (goldens, "decode.latent", 0, FALSE, decode_in);
  run_cli (&decode, NULL, "debug", "vae-decode", "--model", single, "--in", decode_in, "--out", video,
           "--backend", "cpu", NULL);
  if (decode.status != 0)
    g_error ("vae-decode failed (%d):\n%s", decode.status, decode.err);
  g_assert_cmpfloat (written_vs_golden (video, "video", 5, goldens, "decode.video"), <=, 1e-4);

  write_golden_slice (goldens, "encode9.video", 8, FALSE, eight);
  run_cli (&frames, NULL, "debug", "vae-encode", "--model", pipeline, "--in", eight, "--out", latent,
           "--backend", "cpu", NULL);
  g_assert_cmpint (frames.status, ==, 1);
  g_assert_true (g_str_has_prefix (frames.err, "flowanchor debug vae-encode: "));
  g_assert_nonnull (strstr (frames.err, "8 frames"));
  g_assert_nonnull (strstr (frames.err, "1 + 4k"));

  run_cli (&ambiguous, NULL, "debug", "vae-encode", "--model", pipeline, "--in", golden_path, "--out", latent,
           "--backend", "cpu", NULL);
  g_assert_cmpint (ambiguous.status, ==, 1);
  g_assert_nonnull (strstr (ambiguous.err, "--tensor"));

  run_cli (&no_model, NULL, "debug", "vae-decode", "--in", decode_in, "--out", video, NULL);
  g_assert_cmpint (no_model.status, ==, 2);
  g_assert_nonnull (strstr (no_model.err, "--model"));

  run_cli (&bad_tile, NULL, "debug", "vae-decode", "--model", single, "--in", decode_in, "--out", video,
           "--tile-size", "12", NULL);
  g_assert_cmpint (bad_tile.status, ==, 2);

  fa_test_remove_tree (dir);
}

static void
test_bench_vae (void)
{
  g_auto (Run) bench = { 0 }, usage = { 0 }, frames = { 0 };

  run_cli (&bench, NULL, "bench", "vae", "--random-weights", "--frames", "5", "--height", "32", "--width", "48",
           "--device", "cpu", NULL);
  if (bench.status != 0)
    g_error ("bench vae failed (%d):\n%s", bench.status, bench.err);
  g_assert_true (g_regex_match_simple ("^encode +[0-9.]+ ", bench.out, G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^decode +[0-9.]+ ", bench.out, G_REGEX_MULTILINE, 0));
  g_assert_nonnull (strstr (bench.out, "5 frames × 32×48"));
  g_assert_nonnull (strstr (bench.out, "tiling off"));

  run_cli (&usage, NULL, "bench", "vae", "--device", "cpu", NULL);
  g_assert_cmpint (usage.status, ==, 2);

  run_cli (&frames, NULL, "bench", "vae", "--random-weights", "--frames", "8", "--device", "cpu", NULL);
  g_assert_cmpint (frames.status, ==, 1);
  g_assert_nonnull (strstr (frames.err, "1 + 4k"));
}

/* flowanchor probe: the metadata of a clip made here, as text and JSON;
 * a bad file fails with the engine's message, a missing FILE is usage. */
static void
test_probe (void)
{
  g_autofree char *dir = fa_test_make_folder ("fa-cli-probe-XXXXXX");
  g_autofree char *clip = fa_test_make_mp4 (dir, "a.mp4", 24, 160, 96, 24, TRUE, "ball");
  g_autofree char *junk = g_build_filename (dir, "junk.mp4", NULL);
  g_auto (Run) text = { 0 }, json = { 0 }, bad = { 0 }, usage = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  run_cli (&text, NULL, "probe", clip, NULL);
  if (text.status != 0)
    g_error ("probe failed (%d):\n%s", text.status, text.err);
  g_assert_nonnull (strstr (text.out, clip));
  g_assert_true (g_regex_match_simple ("^ +size +160×96$", text.out, G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^ +frame rate +24 fps$", text.out, G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^ +rotation +0°$", text.out, G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^ +video codec +H.264", text.out, G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^ +audio codec +.*AAC", text.out, G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^ +duration +0:00:01\\.0", text.out, G_REGEX_MULTILINE, 0));

  run_cli (&json, NULL, "probe", "--json", clip, NULL);
  g_assert_cmpint (json.status, ==, 0);
  g_assert_true (json_parser_load_from_data (parser, json.out, -1, &error));
  g_assert_no_error (error);
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (json_object_get_int_member (o, "width"), ==, 160);
  g_assert_cmpint (json_object_get_int_member (o, "height"), ==, 96);
  g_assert_cmpint (json_object_get_int_member (o, "fps_n"), ==, 24);
  g_assert_true (json_object_get_boolean_member (o, "has_audio"));
  g_assert_true (json_object_get_boolean_member (o, "audio_is_aac"));
  g_assert_cmpstr (json_object_get_string_member (o, "path"), ==, clip);

  g_assert_true (g_file_set_contents (junk, "not a clip at all, just words", -1, NULL));
  run_cli (&bad, NULL, "probe", junk, NULL);
  g_assert_cmpint (bad.status, ==, 1);
  g_assert_nonnull (strstr (bad.err, junk));
  g_assert_nonnull (strstr (bad.err, "not a media file"));

  run_cli (&usage, NULL, "probe", NULL);
  g_assert_cmpint (usage.status, ==, 2);

  fa_test_remove_tree (dir);
}

/* synth writes frames and ground-truth masks; mask propagate carries the
 * first mask through an MP4's working clip, writes one PNG per frame and
 * an overlay clip, and names what is wrong with a bad mask. */
static void
test_synth_and_mask_propagate (void)
{
  g_autofree char *dir = fa_test_make_folder ("fa-cli-mask-XXXXXX");
  g_autofree char *synth_dir = g_build_filename (dir, "synth", NULL);
  g_autofree char *clip_path = g_build_filename (dir, "synth.mp4", NULL);
  g_autofree char *first_mask = g_build_filename (synth_dir, "mask-000.png", NULL);
  g_autofree char *out = g_build_filename (dir, "masks", NULL);
  g_autofree char *overlay = g_build_filename (dir, "overlay.mp4", NULL);
  g_autofree char *last = g_build_filename (out, "mask-008.png", NULL);
  g_autofree char *beyond = g_build_filename (out, "mask-009.png", NULL);
  g_autofree char *wrong = g_build_filename (dir, "wrong.png", NULL);
  g_auto (Run) synth = { 0 }, bad_motion = { 0 }, propagate = { 0 }, bad_mask = { 0 }, usage = { 0 };
  guint8 small[16 * 16] = { 0 };

  run_cli (&synth, NULL, "synth", "--motion", "translate", "--size", "160x96", "--frames", "9", "--out", synth_dir,
           "--clip", clip_path, NULL);
  if (synth.status != 0)
    g_error ("synth failed (%d):\n%s", synth.status, synth.err);
  g_assert_true (g_file_test (first_mask, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (clip_path, G_FILE_TEST_IS_REGULAR));
  run_cli (&bad_motion, NULL, "synth", "--motion", "spin", "--out", synth_dir, NULL);
  g_assert_cmpint (bad_motion.status, ==, 2);

  run_cli (&propagate, NULL, "mask", "propagate", clip_path, "--mask", first_mask, "--out", out, "--size", "160x96",
           "--frames", "9", "--fps", "source", "--device", "cpu", "--overlay", overlay, NULL);
  if (propagate.status != 0)
    g_error ("mask propagate failed (%d):\n%s", propagate.status, propagate.err);
  g_assert_nonnull (strstr (propagate.out, "frame   0  keyframe"));
  g_assert_nonnull (strstr (propagate.out, "frame   8  propagated"));
  g_assert_true (g_file_test (last, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (beyond, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (overlay, G_FILE_TEST_IS_REGULAR));

  {
    g_autoptr (GError) error = NULL;
    g_assert_true (fa_png_save (wrong, small, 16, 16, 1, &error));
  }
  run_cli (&bad_mask, NULL, "mask", "propagate", clip_path, "--mask", wrong, "--out", out, "--size", "160x96",
           "--frames", "9", "--device", "cpu", NULL);
  g_assert_cmpint (bad_mask.status, ==, 1);
  g_assert_nonnull (strstr (bad_mask.err, "16×16"));

  run_cli (&usage, NULL, "mask", "propagate", clip_path, NULL);
  g_assert_cmpint (usage.status, ==, 2);

  fa_test_remove_tree (dir);
}

/* flowanchor edit on the tiny model: a generated clip and a box to an MP4
 * that decodes with the frames and size asked for; the same edit again
 * from the project the first one saved; usage errors; Ctrl+C. */
static void
assert_clip (const char *path, int frames, int width, int height)
{
  g_autoptr (GError) error = NULL;
  FaWorkingClipOptions options;
  fa_working_clip_options_init (&options);
  options.width = width;
  options.height = height;
  g_autoptr (FaWorkingClip) clip = fa_working_clip_decode (path, &options, NULL, &error);
  g_assert_no_error (error);
  if (clip->n_frames != frames)
    g_error ("%s has %d frames, not %d", path, clip->n_frames, frames);
  g_assert_nonnull (clip->source);
  g_assert_cmpint (clip->source->width, ==, width);
  g_assert_cmpint (clip->source->height, ==, height);
}

static void
test_edit (void)
{
  g_autofree char *dir = fa_test_make_folder ("fa-cli-edit-XXXXXX");
  g_autofree char *model = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "wan-tiny", NULL);
  g_autofree char *clip = fa_test_make_mp4 (dir, "clip.mp4", 12, 96, 64, 16, TRUE, "ball");
  g_autofree char *out = g_build_filename (dir, "edited.mp4", NULL);
  g_autofree char *again = g_build_filename (dir, "again.mp4", NULL);
  g_autofree char *project = g_build_filename (dir, "edit.fanchor", NULL);
  g_auto (Run) edit = { 0 }, from_project = { 0 }, no_model = { 0 }, bad_box = { 0 }, bad_param = { 0 };

  run_cli (&edit, NULL, "edit", clip, "--box", "24,16,40,32", "--source", "a red ball rolls on the grass",
           "--target", "a blue cube rolls on the grass", "--model", model, "-o", out, "--size", "96x64",
           "--frames", "9", "--steps", "4", "--device", "cpu", "--no-prompt-cache", "--save-project", project, NULL);
  if (edit.status != 0)
    g_error ("edit failed (%d):\n%s", edit.status, edit.err);
  /* stderr is not a terminal here: plain progress lines */
  g_assert_nonnull (strstr (edit.err, "editing 1/"));
  g_assert_null (strstr (edit.err, "\r"));
  assert_clip (out, 9, 96, 64);

  run_cli (&from_project, NULL, "edit", "--project", project, "--model", model, "-o", again, "--device", "cpu",
           "--no-prompt-cache", NULL);
  if (from_project.status != 0)
    g_error ("edit --project failed (%d):\n%s", from_project.status, from_project.err);
  assert_clip (again, 9, 96, 64);
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (FaProject) saved = fa_project_load (project, &error);
    g_assert_no_error (error);
    /* both runs are recorded */
    g_assert_cmpuint (fa_project_get_n_results (saved), ==, 2);
    g_assert_cmpstr (fa_project_get_result (saved, 1)->output_path, ==, again);
  }

  run_cli (&no_model, NULL, "edit", clip, "--box", "0,0,8,8", "--source", "a", "--target", "b", "-o", out, NULL);
  g_assert_cmpint (no_model.status, ==, 2);
  run_cli (&bad_box, NULL, "edit", clip, "--box", "90,0,40,8", "--source", "a", "--target", "b", "-o", out,
           "--model", model, "--size", "96x64", NULL);
  g_assert_cmpint (bad_box.status, ==, 2);
  g_assert_nonnull (strstr (bad_box.err, "--box"));
  run_cli (&bad_param, NULL, "edit", clip, "--box", "0,0,8,8", "--source", "a", "--target", "b", "-o", out,
           "--model", model, "--size", "96x64", "--beta1", "5", NULL);
  g_assert_cmpint (bad_param.status, ==, 2);
  g_assert_nonnull (strstr (bad_param.err, "beta1"));

  fa_test_remove_tree (dir);
}

/* Ctrl+C while the steps run: exit status 130, no output file. */
static void
test_edit_interrupted (void)
{
  g_autofree char *dir = fa_test_make_folder ("fa-cli-edit-int-XXXXXX");
  g_autofree char *model = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "wan-tiny", NULL);
  g_autofree char *clip = fa_test_make_mp4 (dir, "clip.mp4", 12, 96, 64, 16, FALSE, "ball");
  g_autofree char *out = g_build_filename (dir, "edited.mp4", NULL);
  const char *argv[] = { g_getenv ("FA_CLI"), "edit", clip, "--box", "24,16,40,32", "--source", "a red ball",
                         "--target", "a blue cube", "--model", model, "-o", out, "--size", "96x64", "--frames", "9",
                         "--steps", "1000", "--device", "cpu", "--no-prompt-cache", NULL };
  g_autoptr (GError) error = NULL;
  GPid pid;
  int err_fd, wait_status = 0;

  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid,
                                           NULL, NULL, &err_fd, &error));
  g_assert_no_error (error);
  {
    g_autoptr (GIOChannel) channel = g_io_channel_unix_new (err_fd);
    gboolean stepping = FALSE;
    g_io_channel_set_close_on_unref (channel, TRUE);
    while (!stepping)
      {
        g_autofree char *line = NULL;
        GIOStatus status = g_io_channel_read_line (channel, &line, NULL, NULL, &error);
        g_assert_no_error (error);
        if (status != G_IO_STATUS_NORMAL)
          g_error ("edit ended before its steps began");
        stepping = g_str_has_prefix (line, "editing 2/");
      }
    kill (pid, SIGINT);
    waitpid (pid, &wait_status, 0);
  }
  g_spawn_close_pid (pid);
  g_assert_true (WIFEXITED (wait_status));
  g_assert_cmpint (WEXITSTATUS (wait_status), ==, 130);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  fa_test_remove_tree (dir);
}

/* model status: a complete folder is ready; with nothing anywhere it says
 * where it looked and how to get the model. */
static void
test_model_status (void)
{
  g_autofree char *cache = fa_test_make_folder ("fa-cli-hub-XXXXXX");
  g_autofree char *tiny = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "wan-tiny", NULL);
  const char *env[] = { "HF_HUB_CACHE", cache, "FLOWANCHOR_MODEL_DIR", "", "GSETTINGS_BACKEND", "memory", NULL };
  g_auto (Run) ready = { 0 }, none = { 0 }, no_verb = { 0 }, bad_option = { 0 };

  run_cli (&ready, env, "model", "status", "--folder", tiny, NULL);
  g_assert_cmpint (ready.status, ==, 0);
  g_autofree char *ready_line = g_strdup_printf ("^ready +folder %s$", tiny);
  if (!g_regex_match_simple (ready_line, ready.out, G_REGEX_MULTILINE, 0))
    g_error ("no ready line for %s in:\n%s", tiny, ready.out);
  g_assert_true (g_regex_match_simple ("^ +transformer +found +2 blocks", ready.out, G_REGEX_MULTILINE, 0));

  run_cli (&none, env, "model", "status", "--comfyui", cache, NULL);
  g_assert_cmpint (none.status, ==, 1);
  g_assert_null (strstr (none.out, "ready"));
  g_assert_nonnull (strstr (none.out, "Looked in"));
  g_autofree char *cache_line = g_strdup_printf ("Hugging Face cache  %s", cache);
  g_assert_nonnull (strstr (none.out, cache_line));
  g_assert_nonnull (strstr (none.out, "huggingface-cli download Wan-AI/Wan2.1-T2V-1.3B-Diffusers"));

  run_cli (&no_verb, env, "model", NULL);
  g_assert_cmpint (no_verb.status, ==, 2);
  run_cli (&bad_option, env, "model", "status", "--bogus", NULL);
  g_assert_cmpint (bad_option.status, ==, 2);
  g_rmdir (cache);
}

/* model download: the fake hub (tests/fa-test-hub.h) on loopback serves
 * the tiny model as FA_MODEL_REPO_ID at FA_MODEL_REVISION. */
typedef struct {
  FaTestHub *hub;
  char *tiny;
  char *cache;          /* HF_HUB_CACHE */
  char *repo_dir;       /* CACHE/models--Wan-AI--… */
  char *snapshot;       /* the snapshot folder a download makes */
  char *home;           /* HF_HOME and HF_TOKEN_PATH point here: no login token of the user's */
  char *token_path;
  const char *env[13];
} HubFixture;

static void
hub_fixture_init (HubFixture *f)
{
  f->tiny = g_build_filename (g_getenv ("FA_TEST_SRCDIR"), "data", "wan-tiny", NULL);
  f->hub = fa_test_hub_new (f->tiny, FA_MODEL_REPO_ID, FA_MODEL_REVISION);
  f->cache = fa_test_make_folder ("fa-cli-download-XXXXXX");
  f->repo_dir = g_build_filename (f->cache, "models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers", NULL);
  f->snapshot = g_build_filename (f->repo_dir, "snapshots", FA_MODEL_REVISION, NULL);
  f->home = g_build_filename (f->cache, "hf-home", NULL);
  f->token_path = g_build_filename (f->home, "token", NULL);
  const char *env[] = { "HF_HUB_CACHE", f->cache, "HF_ENDPOINT", fa_test_hub_get_endpoint (f->hub),
                        "HF_HOME", f->home, "HF_TOKEN_PATH", f->token_path,
                        "FLOWANCHOR_MODEL_DIR", "", "GSETTINGS_BACKEND", "memory", NULL };
  G_STATIC_ASSERT (G_N_ELEMENTS (env) == G_N_ELEMENTS (f->env));
  memcpy (f->env, env, sizeof env);
}

static void
hub_fixture_clear (HubFixture *f)
{
  g_clear_pointer (&f->hub, fa_test_hub_free);
  fa_test_remove_tree (f->cache);
  g_free (f->tiny);
  g_free (f->cache);
  g_free (f->repo_dir);
  g_free (f->snapshot);
  g_free (f->home);
  g_free (f->token_path);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HubFixture, hub_fixture_clear)

static void
assert_snapshot_complete (const char *snapshot)
{
  FaModelPaths paths = { .folder = (char *) snapshot };
  g_autoptr (FaModelReport) report = fa_model_check (&paths, NULL);
  if (!report->complete)
    {
      g_autofree char *text = fa_model_report_to_string (report);
      g_error ("the snapshot %s is not complete:\n%s", snapshot, text);
    }
}

static guint
count_lines_starting (const char *text, const char *prefix)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;
  for (char **line = lines; *line != NULL; line++)
    n += g_str_has_prefix (*line, prefix) ? 1 : 0;
  return n;
}

/* A full download into an empty cache: the snapshot folder it names is
 * complete, `model status` then finds it ready, and a second run fetches
 * nothing. */
static void
test_model_download (void)
{
  g_auto (HubFixture) f = { 0 };
  g_auto (Run) download = { 0 }, status = { 0 }, again = { 0 };

  hub_fixture_init (&f);
  run_cli (&download, f.env, "model", "download", NULL);
  if (download.status != 0)
    g_error ("model download failed (%d):\n%s%s", download.status, download.out, download.err);
  g_autofree char *snapshot_line = g_strdup_printf ("snapshot  %s\n", f.snapshot);
  g_assert_nonnull (strstr (download.out, snapshot_line));
  g_assert_true (g_file_test (f.snapshot, G_FILE_TEST_IS_DIR));
  assert_snapshot_complete (f.snapshot);
  /* it said where from, where to, how much, and each file begun and finished (not a terminal) */
  g_autofree char *from = g_strdup_printf ("from      %s/%s, revision %s\n", fa_test_hub_get_endpoint (f.hub),
                                           FA_MODEL_REPO_ID, FA_MODEL_REVISION);
  g_assert_nonnull (strstr (download.out, from));
  g_autofree char *into = g_strdup_printf ("into      %s\n", f.repo_dir);
  g_assert_nonnull (strstr (download.out, into));
  g_autofree char *total = g_format_size (fa_test_hub_get_model_bytes (f.hub));
  g_autofree char *to_fetch_line = g_strdup_printf ("%s still to come", total);
  g_assert_nonnull (strstr (download.out, to_fetch_line));
  guint n_started = count_lines_starting (download.out, "fetching  [");
  g_assert_cmpuint (n_started, >, 0);
  g_assert_cmpuint (count_lines_starting (download.out, "fetched   ["), ==, n_started);
  g_assert_null (strstr (download.out, "\r"));
  g_assert_true (g_str_has_suffix (download.out, "Hugging Face cache.\n"));
  g_assert_nonnull (strstr (download.out, "The model is ready"));
  g_assert_cmpstr (download.err, ==, "");

  run_cli (&status, f.env, "model", "status", NULL);
  g_assert_cmpint (status.status, ==, 0);
  if (!g_regex_match_simple ("^ready +Hugging Face cache", status.out, G_REGEX_MULTILINE, 0))
    g_error ("model status does not find the download ready:\n%s", status.out);
  g_assert_nonnull (strstr (status.out, f.snapshot));
  g_assert_null (strstr (status.out, "unfinished download"));

  fa_test_hub_clear_requests (f.hub);
  run_cli (&again, f.env, "model", "download", NULL);
  g_assert_cmpint (again.status, ==, 0);
  g_assert_nonnull (strstr (again.out, "nothing to fetch"));
  g_assert_nonnull (strstr (again.out, snapshot_line));
  g_assert_cmpuint (fa_test_hub_count_requests (f.hub, NULL), ==, 0);
}

/* The hub's errors end the command with status 1 and the reason; bad
 * options with status 2. */
static void
test_model_download_errors (void)
{
  g_auto (HubFixture) f = { 0 };
  g_auto (Run) not_found = { 0 }, server_error = { 0 }, no_token = { 0 }, token = { 0 };
  g_auto (Run) bad_option = { 0 }, bad_endpoint = { 0 }, extra = { 0 };

  hub_fixture_init (&f);
  fa_test_hub_set_fault (f.hub, NULL, FA_TEST_HUB_NOT_FOUND, 1);
  run_cli (&not_found, f.env, "model", "download", NULL);
  g_assert_cmpint (not_found.status, ==, 1);
  g_assert_true (g_str_has_prefix (not_found.err, "flowanchor model download: "));
  if (strstr (not_found.err, "404") == NULL && strstr (not_found.err, "not found") == NULL)
    g_error ("a 404 on the listing is not named:\n%s", not_found.err);
  g_assert_nonnull (strstr (not_found.err, FA_MODEL_REPO_ID));
  g_assert_false (g_file_test (f.snapshot, G_FILE_TEST_EXISTS));

  /* (a 500 is tried again, three times in all) */
  fa_test_hub_set_fault (f.hub, NULL, FA_TEST_HUB_SERVER_ERROR, 3);
  run_cli (&server_error, f.env, "model", "download", "--endpoint", fa_test_hub_get_endpoint (f.hub), NULL);
  g_assert_cmpint (server_error.status, ==, 1);
  g_assert_true (g_str_has_prefix (server_error.err, "flowanchor model download: "));
  g_assert_nonnull (strstr (server_error.err, "500"));

  /* a hub that wants a token: refused without one, the default token
   * (HF_TOKEN) used when none is given */
  fa_test_hub_require_token (f.hub, "hf_cli_test");
  run_cli (&no_token, f.env, "model", "download", "--token", "", NULL);
  g_assert_cmpint (no_token.status, ==, 1);
  g_assert_nonnull (strstr (no_token.err, "HF_TOKEN"));
  g_assert_nonnull (strstr (no_token.err, "huggingface-cli login"));
  {
    const char *env[G_N_ELEMENTS (f.env) + 2];
    memcpy (env, f.env, sizeof f.env);
    env[G_N_ELEMENTS (f.env) - 1] = "HF_TOKEN";
    env[G_N_ELEMENTS (f.env)] = "hf_cli_test";
    env[G_N_ELEMENTS (f.env) + 1] = NULL;
    fa_test_hub_clear_requests (f.hub);
    run_cli (&token, env, "model", "download", NULL);
  }
  if (token.status != 0)
    g_error ("model download with HF_TOKEN failed (%d):\n%s", token.status, token.err);
  g_assert_nonnull (strstr (token.out, "(with a token)"));
  g_assert_null (strstr (token.out, "hf_cli_test"));
  assert_snapshot_complete (f.snapshot);
  {
    g_autoptr (GPtrArray) requests = fa_test_hub_get_requests (f.hub);
    g_assert_cmpuint (requests->len, >, 0);
    for (guint i = 0; i < requests->len; i++)
      {
        const FaTestHubRequest *request = g_ptr_array_index (requests, i);
        if (g_str_has_prefix (request->host, "127.0.0.1"))
          g_assert_cmpstr (request->authorization, ==, "Bearer hf_cli_test");
      }
  }

  run_cli (&bad_option, f.env, "model", "download", "--bogus", NULL);
  g_assert_cmpint (bad_option.status, ==, 2);
  g_assert_nonnull (strstr (bad_option.err, "--bogus"));
  run_cli (&bad_endpoint, f.env, "model", "download", "--endpoint", "127.0.0.1:1", NULL);
  g_assert_cmpint (bad_endpoint.status, ==, 2);
  g_assert_nonnull (strstr (bad_endpoint.err, "--endpoint"));
  run_cli (&extra, f.env, "model", "download", "now", NULL);
  g_assert_cmpint (extra.status, ==, 2);
}

typedef struct {
  const char *path;
  goffset min_size;
} PartialWait;

static gboolean
partial_file_grown (gpointer data)
{
  const PartialWait *wait = data;
  GStatBuf st;
  return g_stat (wait->path, &st) == 0 && st.st_size >= wait->min_size;
}

static char *
read_all_and_close (int fd)
{
  g_autoptr (GIOChannel) channel = g_io_channel_unix_new (fd);
  g_autoptr (GError) error = NULL;
  char *text = NULL;

  g_io_channel_set_close_on_unref (channel, TRUE);
  g_io_channel_read_to_end (channel, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

/* Ctrl+C in the middle of the VAE file: status 130, the partial file kept
 * (and no link to it in the snapshot), `model status` tells of it, and the
 * next run asks the hub for the rest of it with a Range request. */
static void
test_model_download_resume (void)
{
  g_auto (HubFixture) f = { 0 };
  g_auto (Run) status = { 0 }, resumed = { 0 };
  const char *vae = "vae/diffusion_pytorch_model.safetensors";
  g_autofree char *vae_source = NULL;
  gsize vae_size = 0;

  hub_fixture_init (&f);
  {
    g_autofree char *vae_path = g_build_filename (f.tiny, vae, NULL);
    g_assert_true (g_file_get_contents (vae_path, &vae_source, &vae_size, NULL));
  }
  const char *vae_blob = fa_test_hub_get_blob (f.hub, vae);
  g_autofree char *blob_name = g_strconcat (vae_blob, ".incomplete", NULL);
  g_autofree char *partial = g_build_filename (f.repo_dir, "blobs", blob_name, NULL);
  g_autofree char *blob = g_build_filename (f.repo_dir, "blobs", vae_blob, NULL);
  g_autofree char *link = g_build_filename (f.snapshot, vae, NULL);
  /* 5 ms per 16 KiB piece: the 3.7 MB VAE file takes over a second */
  fa_test_hub_set_body_delay (f.hub, 5000);

  g_auto (GStrv) env = g_get_environ ();
  for (const char *const *e = f.env; *e != NULL; e += 2)
    env = g_environ_setenv (env, e[0], e[1], TRUE);
  const char *argv[] = { g_getenv ("FA_CLI"), "model", "download", NULL };
  g_autoptr (GError) error = NULL;
  GPid pid;
  int out_fd, err_fd, wait_status = 0;
  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                           NULL, &out_fd, &err_fd, &error));
  g_assert_no_error (error);
  PartialWait wait = { partial, 2 * 16384 };
  if (!fa_test_wait_for (partial_file_grown, &wait, 20))
    g_error ("no partial VAE file %s appeared", partial);
  kill (pid, SIGINT);
  g_autofree char *out = read_all_and_close (out_fd);
  g_autofree char *err = read_all_and_close (err_fd);
  g_assert_cmpint (waitpid (pid, &wait_status, 0), ==, pid);
  g_spawn_close_pid (pid);
  g_assert_true (WIFEXITED (wait_status));
  if (WEXITSTATUS (wait_status) != 130)
    g_error ("model download ended with %d, not 130 (cancelled):\n%s%s", WEXITSTATUS (wait_status), out, err);
  g_assert_nonnull (strstr (err, "flowanchor model download: cancelled\n"));
  g_assert_nonnull (strstr (err, "running the same command again resumes"));

  GStatBuf st;
  g_assert_cmpint (g_stat (partial, &st), ==, 0);
  goffset kept = st.st_size;
  g_assert_cmpint (kept, >=, 2 * 16384);
  g_assert_cmpint (kept, <, (goffset) vae_size);
  g_assert_false (g_file_test (blob, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (link, G_FILE_TEST_EXISTS) || g_file_test (link, G_FILE_TEST_IS_SYMLINK));

  run_cli (&status, f.env, "model", "status", NULL);
  g_assert_cmpint (status.status, ==, 1);
  g_assert_nonnull (strstr (status.out, "unfinished download: 1 file, "));
  g_assert_nonnull (strstr (status.out, "`flowanchor model download` resumes it"));
  g_assert_nonnull (strstr (status.out, "  flowanchor model download\n"));

  fa_test_hub_set_body_delay (f.hub, 0);
  fa_test_hub_clear_requests (f.hub);
  run_cli (&resumed, f.env, "model", "download", NULL);
  if (resumed.status != 0)
    g_error ("the resumed download failed (%d):\n%s%s", resumed.status, resumed.out, resumed.err);
  g_assert_nonnull (strstr (resumed.out, "resuming  1 unfinished file"));
  if (!g_regex_match_simple ("^fetching  \\[\\d+/\\d+\\] vae/diffusion_pytorch_model\\.safetensors \\(.*, resuming at ",
                             resumed.out, G_REGEX_MULTILINE, 0))
    g_error ("the resumed download does not say it resumes the VAE file:\n%s", resumed.out);
  assert_snapshot_complete (f.snapshot);
  g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
  {
    g_autofree char *fetched = NULL;
    gsize fetched_size = 0;
    g_assert_true (g_file_get_contents (link, &fetched, &fetched_size, NULL));
    g_assert_cmpuint (fetched_size, ==, vae_size);
    g_assert_true (memcmp (fetched, vae_source, vae_size) == 0);
  }
  /* the VAE's body was asked for from where the partial file ended */
  g_autoptr (GPtrArray) requests = fa_test_hub_get_requests (f.hub);
  g_autofree char *cdn_path = g_strconcat ("/cdn/", vae_blob, NULL);
  gboolean ranged = FALSE;
  for (guint i = 0; i < requests->len; i++)
    {
      const FaTestHubRequest *request = g_ptr_array_index (requests, i);
      if (!g_str_equal (request->path, cdn_path) || g_strcmp0 (request->method, "GET") != 0)
        continue;
      g_assert_nonnull (request->range);
      g_assert_true (g_str_has_prefix (request->range, "bytes="));
      g_assert_cmpint (g_ascii_strtoll (request->range + 6, NULL, 10), >=, kept);
      ranged = TRUE;
    }
  g_assert_true (ranged);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the download tests talk to a hub on loopback only: no proxy may take
   * that traffic elsewhere, and no token of the user's may be sent */
  const char *unset[] = { "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                          "no_proxy", "NO_PROXY", "HF_TOKEN", "HF_ENDPOINT", NULL };
  for (const char *const *name = unset; *name != NULL; name++)
    g_unsetenv (*name);

  g_test_add_func ("/cli/version-and-usage", test_version_and_usage);
  g_test_add_func ("/cli/inspect", test_inspect_file_set_and_folder);
  g_test_add_func ("/cli/inspect-errors", test_inspect_errors);
  g_test_add_func ("/cli/doctor", test_doctor);
  g_test_add_func ("/cli/bench", test_bench);
  g_test_add_func ("/cli/debug-and-bench-dit", test_debug_and_bench_dit);
  g_test_add_func ("/cli/debug-tokenize-and-t5", test_debug_tokenize_and_t5);
  g_test_add_func ("/cli/debug-vae", test_debug_vae);
  g_test_add_func ("/cli/bench-vae", test_bench_vae);
  g_test_add_func ("/cli/probe", test_probe);
  g_test_add_func ("/cli/synth-and-mask-propagate", test_synth_and_mask_propagate);
  g_test_add_func ("/cli/edit", test_edit);
  g_test_add_func ("/cli/edit-interrupted", test_edit_interrupted);
  g_test_add_func ("/cli/model-status", test_model_status);
  g_test_add_func ("/cli/model-download", test_model_download);
  g_test_add_func ("/cli/model-download-errors", test_model_download_errors);
  g_test_add_func ("/cli/model-download-resume", test_model_download_resume);

  return g_test_run ();
}
