/* Project files: a project with every setting changed comes back equal
 * after save and load (masks byte for byte) and saves to the same bytes
 * again; members this version does not know survive a load and a save at
 * every level; a file cut short anywhere, a field of the wrong type or out
 * of range, a mask that does not decode are corrupt files naming the file
 * and the field; a newer version is refused saying both versions; a save
 * that fails midway leaves the old file as it was and no temporary file;
 * a moved, changed or removed clip is noticed. The edit's range: saved,
 * checked on set and on load, absent in older files; its working options
 * decode to exactly the whole clip's frames there, whether or not the
 * clip is resampled to the working rate; its keyframes land on the range's
 * frames. The app's view values of each type come back with their type.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fa-error.h"
#include "fa-media-util.h"
#include "fa-project.h"
#include "fa-test-util.h"

#define MIB (1 << 20)
/* three MiB: the hashed first and last MiB do not overlap, and a middle is left over */
#define CLIP_SIZE (3 * MIB + 123)
#define WORK_W 320
#define WORK_H 176
#define WORK_FRAMES 33

typedef struct {
  char *dir;
  char *clip;    /* a file of CLIP_SIZE random bytes */
  char *project; /* DIR/edit.fanchor, not yet written */
} Fixture;

static void
write_random_file (const char *path, gsize size, guint32 seed)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  g_autofree guint32 *data = g_new (guint32, size / 4 + 1);

  for (gsize i = 0; i < size / 4 + 1; i++)
    data[i] = g_rand_int (rand);
  g_file_set_contents (path, (const char *) data, (gssize) size, &error);
  g_assert_no_error (error);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = fa_test_make_folder ("fa-project-XXXXXX");
  f->clip = g_build_filename (f->dir, "clip.mp4", NULL);
  f->project = g_build_filename (f->dir, "edit" FA_PROJECT_EXTENSION, NULL);
  write_random_file (f->clip, CLIP_SIZE, 7);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  fa_project_set_save_failure_for_testing (-1);
  fa_test_remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->clip);
  g_free (f->project);
}

static char *
read_text (const char *path, gsize *length)
{
  g_autoptr (GError) error = NULL;
  char *text = NULL;

  g_file_get_contents (path, &text, length, &error);
  g_assert_no_error (error);
  return text;
}

static void
write_text (const char *path, const char *text, gssize length)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, length, &error);
  g_assert_no_error (error);
}

static guint
count_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* ---- a project with everything set ---- */

static void
set_changed_params (FaEditParams *p)
{
  fa_edit_params_init (p);
  p->steps = 30;
  p->n_max = 20;
  p->n_min = 2;
  p->n_avg = 3;
  p->shift = 3.5f;
  p->cfg_source = 4.5f;
  p->cfg_target = 7.3f;
  p->sar = !p->sar;
  p->tau = 0.45f;
  p->beta1 = 0.15f;
  p->beta2 = 0.35f;
  p->amm = !p->amm;
  p->gamma = 2.1f;
  p->gamma_frames = 13;
  p->mask_dilation = 5;
  p->blend_background = !p->blend_background;
  p->blend_strength = 0.7f;
  /* above G_MAXINT64: does not fit a JSON integer */
  p->seed = G_MAXUINT64 - 5;
}

#define ASSERT_PARAMS_EQUAL(a, b, cmp)                                                     \
  G_STMT_START {                                                                           \
    g_assert_cmpint ((a)->steps, cmp, (b)->steps);                                         \
    g_assert_cmpint ((a)->n_max, cmp, (b)->n_max);                                         \
    g_assert_cmpint ((a)->n_min, cmp, (b)->n_min);                                         \
    g_assert_cmpint ((a)->n_avg, cmp, (b)->n_avg);                                         \
    g_assert_cmpfloat ((a)->shift, cmp, (b)->shift);                                       \
    g_assert_cmpfloat ((a)->cfg_source, cmp, (b)->cfg_source);                             \
    g_assert_cmpfloat ((a)->cfg_target, cmp, (b)->cfg_target);                             \
    g_assert_cmpint ((a)->sar, cmp, (b)->sar);                                             \
    g_assert_cmpfloat ((a)->tau, cmp, (b)->tau);                                           \
    g_assert_cmpfloat ((a)->beta1, cmp, (b)->beta1);                                       \
    g_assert_cmpfloat ((a)->beta2, cmp, (b)->beta2);                                       \
    g_assert_cmpint ((a)->amm, cmp, (b)->amm);                                             \
    g_assert_cmpfloat ((a)->gamma, cmp, (b)->gamma);                                       \
    g_assert_cmpint ((a)->gamma_frames, cmp, (b)->gamma_frames);                           \
    g_assert_cmpint ((a)->mask_dilation, cmp, (b)->mask_dilation);                         \
    g_assert_cmpint ((a)->blend_background, cmp, (b)->blend_background);                   \
    g_assert_cmpfloat ((a)->blend_strength, cmp, (b)->blend_strength);                     \
    g_assert_cmpuint ((a)->seed, cmp, (b)->seed);                                          \
  } G_STMT_END

static void
set_changed_working (FaWorkingClipOptions *o)
{
  fa_working_clip_options_init (o);
  o->start_ns = 1500000000;
  o->end_ns = 9250000000;
  o->fps_n = 24000;
  o->fps_d = 1001;
  o->width = WORK_W;
  o->height = WORK_H;
  o->fit = FA_CLIP_FIT_PAD;
  o->max_frames = WORK_FRAMES;
}

static FaMaskSet *
make_masks (void)
{
  g_autoptr (GError) error = NULL;
  FaMaskSet *masks = fa_mask_set_new (WORK_FRAMES, WORK_W, WORK_H, &error);
  const FaMaskPoint points[] = { { 40.5f, 30.25f }, { 200.0f, 120.0f } };
  const FaMaskStroke stroke = { .points = points, .n_points = 2, .radius = 9.0f, .hardness = 0.3f };

  g_assert_no_error (error);
  g_assert_true (fa_mask_set_apply_box (masks, 0, 17, 9, 120, 80, FALSE, &error));
  /* a soft stroke: alpha values between 0 and 255 must come back exactly */
  g_assert_true (fa_mask_set_apply_stroke (masks, 0, &stroke, &error));
  g_assert_true (fa_mask_set_apply_box (masks, 16, 150, 40, 100, 100, FALSE, &error));
  g_assert_true (fa_mask_set_apply_box (masks, 16, 170, 60, 20, 20, TRUE, &error));
  g_assert_no_error (error);
  /* a propagated (non-key) frame, which the project does not keep */
  memset (fa_mask_set_get_frame (masks, 5), 200, WORK_W * WORK_H);
  g_assert_cmpint (fa_mask_set_list_keyframes (masks, NULL), ==, 2);
  return masks;
}

static FaProject *
make_full_project (Fixture *f, FaMaskSet *masks)
{
  g_autoptr (GError) error = NULL;
  FaProject *project = fa_project_new (f->clip, &error);
  FaWorkingClipOptions working;
  FaEditParams params;

  g_assert_no_error (error);
  set_changed_working (&working);
  fa_project_set_working_options (project, &working);
  set_changed_params (&params);
  g_assert_true (fa_project_set_params (project, &params, &error));
  g_assert_no_error (error);

  const char *const words[] = { "tiger", "stripes", NULL };
  fa_project_set_prompts (project, "a cat on the grass", "a dog on the grass", NULL);
  fa_project_set_prompts (project, "a cat on the grass", "a tiger with stripes on the grass — “été”", words);

  g_assert_true (fa_project_set_keyframes (project, masks, &error));
  g_assert_no_error (error);

  g_autofree char *out1 = g_build_filename (f->dir, "preview.mp4", NULL);
  g_autofree char *out2 = g_build_filename (f->dir, "full.webm", NULL);
  FaProjectResult r1 = {
    .kind = FA_PROJECT_RESULT_PREVIEW,
    .output_path = out1,
    .source_prompt = "a cat on the grass",
    .target_prompt = "a dog on the grass",
    .created_unix = 1700000000,
  };
  fa_edit_params_init (&r1.params);
  r1.params.steps = 8;
  r1.params.n_max = 7;
  r1.params.seed = 42;
  FaProjectResult r2 = {
    .kind = FA_PROJECT_RESULT_FULL,
    .output_path = out2,
    .params = params,
    .source_prompt = "a cat on the grass",
    .target_prompt = "a tiger with stripes on the grass — “été”",
    .created_unix = 1700000999,
  };
  fa_project_add_result (project, &r1);
  fa_project_add_result (project, &r2);
  return project;
}

static void
save_ok (FaProject *project, const char *path)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (fa_project_save (project, path, &error));
  g_assert_no_error (error);
}

static FaProject *
load_ok (const char *path)
{
  g_autoptr (GError) error = NULL;
  FaProject *project = fa_project_load (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (project);
  return project;
}

static void
assert_result_equal (const FaProjectResult *a, const FaProjectResult *b)
{
  g_assert_cmpint (a->kind, ==, b->kind);
  g_assert_cmpstr (a->output_path, ==, b->output_path);
  g_assert_cmpstr (a->source_prompt, ==, b->source_prompt);
  g_assert_cmpstr (a->target_prompt, ==, b->target_prompt);
  g_assert_cmpint (a->created_unix, ==, b->created_unix);
  ASSERT_PARAMS_EQUAL (&a->params, &b->params, ==);
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (FaProject) project = make_full_project (f, masks);
  FaEditParams defaults, params, loaded_params;
  FaWorkingClipOptions working_defaults, working, loaded_working;

  /* every parameter and working option really differs from its default */
  fa_edit_params_init (&defaults);
  fa_project_get_params (project, &params);
  ASSERT_PARAMS_EQUAL (&params, &defaults, !=);
  fa_working_clip_options_init (&working_defaults);
  fa_project_get_working_options (project, &working);
  g_assert_cmpint (working.start_ns, !=, working_defaults.start_ns);
  g_assert_cmpint (working.end_ns, !=, working_defaults.end_ns);
  g_assert_cmpint (working.fps_n, !=, working_defaults.fps_n);
  g_assert_cmpint (working.fps_d, !=, working_defaults.fps_d);
  g_assert_cmpint (working.width, !=, working_defaults.width);
  g_assert_cmpint (working.height, !=, working_defaults.height);
  g_assert_cmpint (working.fit, !=, working_defaults.fit);
  g_assert_cmpint (working.max_frames, !=, working_defaults.max_frames);

  save_ok (project, f->project);
  g_autoptr (FaProject) loaded = load_ok (f->project);

  g_assert_true (g_path_is_absolute (fa_project_get_clip_path (loaded)));
  g_assert_cmpstr (fa_project_get_clip_path (loaded), ==, fa_project_get_clip_path (project));
  g_assert_cmpint (fa_project_check_clip (loaded, &error), ==, FA_PROJECT_CLIP_OK);
  g_assert_no_error (error);

  fa_project_get_working_options (loaded, &loaded_working);
  g_assert_cmpint (loaded_working.start_ns, ==, working.start_ns);
  g_assert_cmpint (loaded_working.end_ns, ==, working.end_ns);
  g_assert_cmpint (loaded_working.fps_n, ==, working.fps_n);
  g_assert_cmpint (loaded_working.fps_d, ==, working.fps_d);
  g_assert_cmpint (loaded_working.width, ==, working.width);
  g_assert_cmpint (loaded_working.height, ==, working.height);
  g_assert_cmpint (loaded_working.fit, ==, working.fit);
  g_assert_cmpint (loaded_working.max_frames, ==, working.max_frames);

  fa_project_get_params (loaded, &loaded_params);
  ASSERT_PARAMS_EQUAL (&loaded_params, &params, ==);

  g_assert_cmpstr (fa_project_get_source_prompt (loaded), ==, "a cat on the grass");
  g_assert_cmpstr (fa_project_get_target_prompt (loaded), ==, "a tiger with stripes on the grass — “été”");
  const char *const *words = fa_project_get_target_words (loaded);
  g_assert_nonnull (words);
  g_assert_cmpstrv (words, ((const char *const[]) { "tiger", "stripes", NULL }));
  const char *const *sources, *const *targets;
  g_assert_cmpuint (fa_project_get_prompt_history (loaded, &sources, &targets), ==, 1);
  g_assert_cmpstr (sources[0], ==, "a cat on the grass");
  g_assert_cmpstr (targets[0], ==, "a dog on the grass");
  g_assert_null (sources[1]);
  g_assert_null (targets[1]);

  /* the keyframes come back byte for byte, and only they */
  g_assert_cmpuint (fa_project_get_n_keyframes (loaded), ==, 2);
  g_autoptr (FaMaskSet) back = fa_mask_set_new (WORK_FRAMES, WORK_W, WORK_H, &error);
  g_assert_no_error (error);
  g_assert_true (fa_project_apply_keyframes (loaded, back, &error));
  g_assert_no_error (error);
  for (int frame = 0; frame < WORK_FRAMES; frame++)
    {
      gboolean key = fa_mask_set_is_keyframe (masks, frame);
      g_assert_cmpint (fa_mask_set_is_keyframe (back, frame), ==, key);
      if (key)
        g_assert_cmpmem (fa_mask_set_peek_frame (back, frame), WORK_W * WORK_H, fa_mask_set_peek_frame (masks, frame),
                         WORK_W * WORK_H);
    }
  /* the soft stroke gave values between 0 and 255 */
  const guint8 *frame0 = fa_mask_set_peek_frame (back, 0);
  gboolean soft = FALSE;
  for (int i = 0; i < WORK_W * WORK_H; i++)
    soft |= frame0[i] > 0 && frame0[i] < 255;
  g_assert_true (soft);

  g_assert_cmpuint (fa_project_get_n_results (loaded), ==, 2);
  for (guint i = 0; i < 2; i++)
    assert_result_equal (fa_project_get_result (loaded, i), fa_project_get_result (project, i));
  g_assert_cmpuint (fa_project_get_result (loaded, 1)->params.seed, ==, G_MAXUINT64 - 5);

  /* and saving what was loaded gives the same file */
  g_autofree char *second = g_build_filename (f->dir, "second" FA_PROJECT_EXTENSION, NULL);
  save_ok (loaded, second);
  gsize len1, len2;
  g_autofree char *text1 = read_text (f->project, &len1);
  g_autofree char *text2 = read_text (second, &len2);
  g_assert_cmpmem (text1, len1, text2, len2);
  g_assert_true (g_str_has_prefix (text1, "{"));
  g_assert_true (g_str_has_suffix (text1, "}"));
}

static void
test_defaults (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = fa_project_new (f->clip, &error);
  FaEditParams defaults, params;
  FaWorkingClipOptions working_defaults, working;

  g_assert_no_error (error);
  save_ok (project, f->project);
  g_autoptr (FaProject) loaded = load_ok (f->project);

  fa_edit_params_init (&defaults);
  fa_project_get_params (loaded, &params);
  ASSERT_PARAMS_EQUAL (&params, &defaults, ==);
  fa_working_clip_options_init (&working_defaults);
  fa_project_get_working_options (loaded, &working);
  g_assert_cmpint (working.width, ==, working_defaults.width);
  g_assert_cmpint (working.max_frames, ==, working_defaults.max_frames);
  g_assert_cmpint (working.end_ns, ==, working_defaults.end_ns);
  g_assert_cmpstr (fa_project_get_source_prompt (loaded), ==, "");
  g_assert_cmpstr (fa_project_get_target_prompt (loaded), ==, "");
  g_assert_null (fa_project_get_target_words (loaded));
  g_assert_cmpuint (fa_project_get_prompt_history (loaded, NULL, NULL), ==, 0);
  g_assert_cmpuint (fa_project_get_n_keyframes (loaded), ==, 0);
  g_assert_cmpuint (fa_project_get_n_results (loaded), ==, 0);

  /* a relative clip path is recorded absolute */
  g_autofree char *cwd = g_get_current_dir ();
  g_assert_no_errno (g_chdir (f->dir));
  g_autoptr (FaProject) relative = fa_project_new ("clip.mp4", &error);
  g_assert_no_errno (g_chdir (cwd));
  g_assert_no_error (error);
  g_assert_cmpstr (fa_project_get_clip_path (relative), ==, f->clip);

  /* no clip, no project */
  g_autofree char *missing = g_build_filename (f->dir, "nothing.mp4", NULL);
  g_autoptr (FaProject) none = fa_project_new (missing, &error);
  g_assert_null (none);
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, missing);
  g_clear_error (&error);
  none = fa_project_new (f->dir, &error);
  g_assert_null (none);
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY, f->dir);
}

static void
test_prompts (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = fa_project_new (f->clip, &error);
  const char *const *sources, *const *targets;

  g_assert_no_error (error);
  /* the first pair follows an empty one: nothing to remember */
  fa_project_set_prompts (project, "a", "b", NULL);
  g_assert_cmpuint (fa_project_get_prompt_history (project, &sources, &targets), ==, 0);
  g_assert_null (sources[0]);
  /* the same pair again, or only other words: no new entry */
  const char *const words[] = { "b", NULL };
  fa_project_set_prompts (project, "a", "b", words);
  g_assert_cmpuint (fa_project_get_prompt_history (project, NULL, NULL), ==, 0);
  g_assert_cmpstrv (fa_project_get_target_words (project), words);
  /* words may be handed back as they are */
  fa_project_set_prompts (project, "a", "b", fa_project_get_target_words (project));
  g_assert_cmpstrv (fa_project_get_target_words (project), words);
  fa_project_set_prompts (project, "a", "c", NULL);
  g_assert_null (fa_project_get_target_words (project));
  fa_project_set_prompts (project, "d", "c", NULL);
  fa_project_set_prompts (project, "", "", NULL);
  fa_project_set_prompts (project, "e", "f", NULL);
  g_assert_cmpuint (fa_project_get_prompt_history (project, &sources, &targets), ==, 3);
  g_assert_cmpstrv (sources, ((const char *const[]) { "a", "a", "d", NULL }));
  g_assert_cmpstrv (targets, ((const char *const[]) { "b", "c", "c", NULL }));
  g_assert_cmpstr (fa_project_get_source_prompt (project), ==, "e");
  g_assert_cmpstr (fa_project_get_target_prompt (project), ==, "f");

  /* an empty word list is a choice, not the automatic diff */
  const char *const no_words[] = { NULL };
  fa_project_set_prompts (project, "e", "f", no_words);
  save_ok (project, f->project);
  g_autoptr (FaProject) loaded = load_ok (f->project);
  g_assert_nonnull (fa_project_get_target_words (loaded));
  g_assert_null (fa_project_get_target_words (loaded)[0]);
  g_assert_cmpuint (fa_project_get_prompt_history (loaded, &sources, NULL), ==, 3);
  g_assert_cmpstr (sources[2], ==, "d");
}

static void
test_keyframe_sizes (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (FaProject) project = fa_project_new (f->clip, &error);

  g_assert_no_error (error);
  /* the default working size is not the masks' */
  g_assert_false (fa_project_set_keyframes (project, masks, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "working size");
  g_clear_error (&error);

  FaWorkingClipOptions working;
  set_changed_working (&working);
  fa_project_set_working_options (project, &working);
  g_assert_true (fa_project_set_keyframes (project, masks, &error));
  g_assert_no_error (error);

  /* onto masks of another size: refused, and the masks are left alone */
  g_autoptr (FaMaskSet) small = fa_mask_set_new (WORK_FRAMES, WORK_W / 2, WORK_H, &error);
  g_assert_no_error (error);
  g_assert_false (fa_project_apply_keyframes (project, small, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "keyframe 0");
  g_clear_error (&error);
  g_assert_cmpint (fa_mask_set_list_keyframes (small, NULL), ==, 0);

  /* too few frames for keyframe 16 */
  g_autoptr (FaMaskSet) short_set = fa_mask_set_new (9, WORK_W, WORK_H, &error);
  g_assert_no_error (error);
  g_assert_false (fa_project_apply_keyframes (project, short_set, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "frame 16");
  g_clear_error (&error);
  g_assert_cmpint (fa_mask_set_list_keyframes (short_set, NULL), ==, 0);

  /* a keyframe removed from the masks is gone from the project too */
  fa_mask_set_unset_keyframe (masks, 0);
  g_assert_true (fa_project_set_keyframes (project, masks, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fa_project_get_n_keyframes (project), ==, 1);
}

/* ---- editing the JSON text of a saved project ---- */

static JsonNode *
parse_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

static void
write_json (const char *path, JsonNode *root)
{
  g_autofree char *text = json_to_string (root, TRUE);

  write_text (path, text, -1);
}

/* The node at @path ("clip", "results[1].params", "" for the root). */
static JsonNode *
node_at (JsonNode *root, const char *path)
{
  JsonNode *node = root;
  g_auto (GStrv) parts = g_strsplit (path, ".", -1);

  for (char **part = parts; *part != NULL && **part != '\0'; part++)
    {
      g_autofree char *name = g_strdup (*part);
      char *bracket = strchr (name, '[');
      int index = -1;

      if (bracket != NULL)
        {
          index = atoi (bracket + 1);
          *bracket = '\0';
        }
      g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
      node = json_object_get_member (json_node_get_object (node), name);
      g_assert_nonnull (node);
      if (index >= 0)
        {
          g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
          node = json_array_get_element (json_node_get_array (node), (guint) index);
          g_assert_nonnull (node);
        }
    }
  return node;
}

static JsonObject *
object_at (JsonNode *root, const char *path)
{
  JsonNode *node = node_at (root, path);

  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_node_get_object (node);
}

static JsonNode *
json_value (const char *text)
{
  g_autoptr (GError) error = NULL;
  JsonNode *node = json_from_string (text, &error);

  g_assert_no_error (error);
  return node;
}

static const char *const unknown_places[] = {
  "", "clip", "working", "working.range", "prompts", "prompts.history[0]", "params", "keyframes[1]", "results[0]",
  "results[1].params",
};

static void
test_unknown_fields (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (FaProject) project = make_full_project (f, masks);

  save_ok (project, f->project);
  g_autoptr (JsonNode) root = parse_file (f->project);
  for (gsize i = 0; i < G_N_ELEMENTS (unknown_places); i++)
    {
      g_autofree char *value = g_strdup_printf ("{\"where\": \"%s\", \"list\": [1, 2.5, null, {\"deep\": true}]}",
                                                unknown_places[i]);
      JsonObject *object = object_at (root, unknown_places[i]);
      json_object_set_member (object, "x_future", json_value (value));
      json_object_set_int_member (object, "x_count", (gint64) i);
    }
  write_json (f->project, root);

  /* load, change a little of everything this version knows, save */
  g_autoptr (FaProject) loaded = load_ok (f->project);
  FaEditParams params;
  fa_project_get_params (loaded, &params);
  params.steps = 40;
  g_assert_true (fa_project_set_params (loaded, &params, &error));
  g_assert_no_error (error);
  fa_project_set_prompts (loaded, "new source", "new target", NULL);
  g_autoptr (FaMaskSet) back = fa_mask_set_new (WORK_FRAMES, WORK_W, WORK_H, &error);
  g_assert_true (fa_project_apply_keyframes (loaded, back, &error));
  g_assert_true (fa_mask_set_apply_box (back, 16, 0, 0, 10, 10, FALSE, &error));
  g_assert_true (fa_project_set_keyframes (loaded, back, &error));
  g_assert_no_error (error);
  save_ok (loaded, f->project);

  g_autoptr (JsonNode) saved = parse_file (f->project);
  for (gsize i = 0; i < G_N_ELEMENTS (unknown_places); i++)
    {
      JsonObject *before = object_at (root, unknown_places[i]);
      JsonObject *after = object_at (saved, unknown_places[i]);
      g_assert_true (json_object_has_member (after, "x_future"));
      g_assert_true (json_node_equal (json_object_get_member (before, "x_future"),
                                      json_object_get_member (after, "x_future")));
      g_assert_cmpint (json_object_get_int_member (after, "x_count"), ==, (gint64) i);
    }
  /* the known members did change */
  g_assert_cmpint (json_object_get_int_member (object_at (saved, "params"), "steps"), ==, 40);
  g_assert_cmpstr (json_object_get_string_member (object_at (saved, "prompts"), "source"), ==, "new source");
  g_assert_cmpuint (json_array_get_length (json_node_get_array (node_at (saved, "prompts.history"))), ==, 2);
  g_assert_false (json_node_equal (node_at (root, "keyframes[1].png"), node_at (saved, "keyframes[1].png")));
  /* the changed keyframe still decodes to the changed mask */
  g_autoptr (FaProject) again = load_ok (f->project);
  g_autoptr (FaMaskSet) third = fa_mask_set_new (WORK_FRAMES, WORK_W, WORK_H, &error);
  g_assert_true (fa_project_apply_keyframes (again, third, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (fa_mask_set_peek_frame (third, 16), WORK_W * WORK_H, fa_mask_set_peek_frame (back, 16),
                   WORK_W * WORK_H);
}

/* ---- damaged files ---- */

static void
assert_corrupt (const char *path, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = fa_project_load (path, &error);

  g_assert_null (project);
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, path);
  if (fragment != NULL && strstr (error->message, fragment) == NULL)
    g_error ("error message \"%s\" does not mention \"%s\"", error->message, fragment);
}

static void
test_truncated (Fixture *f, gconstpointer data)
{
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (FaProject) project = make_full_project (f, masks);
  g_autofree char *cut = g_build_filename (f->dir, "cut" FA_PROJECT_EXTENSION, NULL);
  gsize length;

  save_ok (project, f->project);
  g_autofree char *text = read_text (f->project, &length);
  g_assert_cmpuint (length, >, 4096);

  guint n_cuts = 0;
  for (gsize at = 0; at < length; at += 1024)
    {
      write_text (cut, text, (gssize) at);
      assert_corrupt (cut, NULL);
      n_cuts++;
    }
  /* and finer, through the small members at the start and the end */
  for (gsize at = 1; at < 600; at += 7)
    {
      write_text (cut, text, (gssize) at);
      assert_corrupt (cut, NULL);
      write_text (cut, text, (gssize) (length - at));
      assert_corrupt (cut, NULL);
    }
  write_text (cut, text, (gssize) length - 1);
  assert_corrupt (cut, "JSON");
  write_text (cut, text, 0);
  assert_corrupt (cut, "empty");
  g_test_message ("%u cuts at 1 KiB boundaries of a %" G_GSIZE_FORMAT "-byte project", n_cuts, length);

  /* the whole file still loads */
  write_text (cut, text, (gssize) length);
  g_autoptr (FaProject) loaded = load_ok (cut);
  g_assert_cmpuint (fa_project_get_n_keyframes (loaded), ==, 2);

  /* not a project at all */
  write_text (cut, "[1, 2, 3]", -1);
  assert_corrupt (cut, "not a FlowAnchor project");
  write_text (cut, "{\"format\": \"something-else\", \"version\": 1}", -1);
  assert_corrupt (cut, "format");
  write_text (cut, "\x89PNG\r\n\x1a\n", -1);
  assert_corrupt (cut, "JSON");

  /* far too large to be a project: refused without reading it (sparse, so cheap) */
  write_text (cut, "{", 1);
  g_assert_no_errno (truncate (cut, ((goffset) 256 << 20) + 1));
  assert_corrupt (cut, "MiB");

  /* no file: an I/O error naming it */
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = g_build_filename (f->dir, "missing" FA_PROJECT_EXTENSION, NULL);
  g_autoptr (FaProject) none = fa_project_load (missing, &error);
  g_assert_null (none);
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, missing);
}

static void
test_newer_version (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = fa_project_new (f->clip, &error);

  g_assert_no_error (error);
  save_ok (project, f->project);
  g_autoptr (JsonNode) root = parse_file (f->project);
  JsonObject *top = json_node_get_object (root);

  json_object_set_int_member (top, "version", FA_PROJECT_VERSION + 1);
  /* what a newer version might have changed must not be looked at */
  json_object_set_string_member (top, "clip", "moved into a new schema");
  write_json (f->project, root);
  g_autoptr (FaProject) newer = fa_project_load (f->project, &error);
  g_assert_null (newer);
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_UNSUPPORTED, f->project);
  g_autofree char *has = g_strdup_printf ("version %d", FA_PROJECT_VERSION + 1);
  g_autofree char *reads = g_strdup_printf ("up to %d", FA_PROJECT_VERSION);
  g_assert_nonnull (strstr (error->message, has));
  g_assert_nonnull (strstr (error->message, reads));
  g_clear_error (&error);

  json_object_set_int_member (top, "version", 0);
  write_json (f->project, root);
  assert_corrupt (f->project, "version");
  json_object_set_string_member (top, "version", "1");
  write_json (f->project, root);
  assert_corrupt (f->project, "version");
  json_object_remove_member (top, "version");
  write_json (f->project, root);
  assert_corrupt (f->project, "version");
}

typedef struct {
  const char *object; /* where, as node_at takes it */
  const char *member;
  const char *value; /* JSON text; NULL removes the member */
  const char *fragment;
} Damage;

static const Damage damages[] = {
  { "", "clip", NULL, "clip" },
  { "", "clip", "[]", "clip" },
  { "clip", "path", "3", "clip.path" },
  { "clip", "size", "\"big\"", "clip.size" },
  { "clip", "size", "-1", "clip.size" },
  { "clip", "hash", "\"0123\"", "clip.hash" },
  { "clip", "hash", NULL, "clip.hash" },
  { "", "working", "1", "working" },
  { "working", "width", "1.5", "working.width" },
  { "working", "width", "99999999999", "working.width" },
  { "working", "start_ns", "\"0\"", "working.start_ns" },
  { "working", "fit", "\"stretch\"", "working.fit" },
  { "working", "range", "[4, 9]", "working.range" },
  { "working.range", "count", "6", "working.range.count" },
  { "working.range", "count", "3", "working.range.count" },
  { "working.range", "count", "85", "working.range.count" },
  { "working.range", "count", "-5", "working.range.count" },
  { "working.range", "count", "\"9\"", "working.range.count" },
  { "working.range", "first", "-1", "working.range.first" },
  { "working.range", "first", "2.5", "working.range.first" },
  { "", "prompts", "\"a cat\"", "prompts" },
  { "prompts", "source", "null", "prompts.source" },
  { "prompts", "words", "[\"tiger\", 1]", "prompts.words[1]" },
  { "prompts", "words", "\"tiger\"", "prompts.words" },
  { "prompts", "history", "{}", "prompts.history" },
  { "prompts", "history", "[7]", "prompts.history[0]" },
  { "prompts.history[0]", "target", NULL, "prompts.history[0].target" },
  { "", "params", "[]", "params" },
  { "params", "tau", "\"high\"", "params.tau" },
  { "params", "tau", "1e300", "params.tau" },
  { "params", "steps", "2.0", "params.steps" },
  { "params", "steps", "0", "params" },
  { "params", "beta2", "7", "params" },
  { "params", "sar", "1", "params.sar" },
  { "params", "seed", "-1", "params.seed" },
  { "params", "seed", "\"12x\"", "params.seed" },
  { "", "keyframes", "{}", "keyframes" },
  { "keyframes[0]", "png", "\"!!!!\"", "keyframes[0].png" },
  { "keyframes[0]", "png", "\"AAAAAAAA\"", "keyframes[0].png" },
  /* an 8-bit RGB 1×1 PNG: decodes, but not grey */
  { "keyframes[0]", "png",
    "\"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGMQUDAAAACkAGE0Zn1yAAAAAElFTkSuQmCC\"",
    "keyframes[0].png" },
  { "keyframes[1]", "width", "100", "keyframes[1].png" },
  { "keyframes[1]", "height", "0", "keyframes[1].height" },
  { "keyframes[1]", "frame", "0", "keyframes[1].frame" },
  { "keyframes[1]", "frame", "-4", "keyframes[1].frame" },
  { "keyframes[1]", "png", NULL, "keyframes[1].png" },
  { "", "results", "null", "results" },
  { "results[0]", "kind", "\"draft\"", "results[0].kind" },
  { "results[0]", "output", "false", "results[0].output" },
  { "results[0]", "created", "\"today\"", "results[0].created" },
  { "results[1]", "params", "5", "results[1].params" },
  { "results[1].params", "beta1", "5", "results[1].params" },
  { "results[1].params", "n_avg", "\"3\"", "results[1].params.n_avg" },
  { "", "view", "[]", "view" },
  { "", "view", "\"zoom\"", "view" },
  { "view", "zoom", "[2.0]", "view.zoom" },
  { "view", "zoom", "{\"d\": 2.0}", "view.zoom" },
  { "view", "tool", "null", "view.tool" },
  { "view", "frame", "99999999999", "view.frame" },
};

static void
test_bad_fields (Fixture *f, gconstpointer data)
{
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (FaProject) project = make_full_project (f, masks);
  g_autofree char *bad = g_build_filename (f->dir, "bad" FA_PROJECT_EXTENSION, NULL);

  save_ok (project, f->project);
  for (gsize i = 0; i < G_N_ELEMENTS (damages); i++)
    {
      const Damage *d = &damages[i];
      g_autoptr (JsonNode) root = parse_file (f->project);
      JsonObject *object = object_at (root, d->object);

      if (d->value != NULL)
        json_object_set_member (object, d->member, json_value (d->value));
      else
        json_object_remove_member (object, d->member);
      write_json (bad, root);
      assert_corrupt (bad, d->fragment);
    }

  /* optional members left out take their defaults */
  g_autoptr (JsonNode) root = parse_file (f->project);
  JsonObject *top = json_node_get_object (root);
  json_object_remove_member (top, "working");
  json_object_remove_member (top, "keyframes");
  json_object_remove_member (object_at (root, "params"), "tau");
  json_object_set_int_member (object_at (root, "params"), "shift", 4);
  write_json (bad, root);
  g_autoptr (FaProject) loaded = load_ok (bad);
  FaEditParams params, defaults;
  FaWorkingClipOptions working;
  fa_edit_params_init (&defaults);
  fa_project_get_params (loaded, &params);
  g_assert_cmpfloat (params.tau, ==, defaults.tau);
  g_assert_cmpfloat (params.shift, ==, 4.0f);
  g_assert_cmpint (params.steps, ==, 30);
  fa_project_get_working_options (loaded, &working);
  g_assert_cmpint (working.width, ==, 832);
  g_assert_cmpuint (fa_project_get_n_keyframes (loaded), ==, 0);

  /* a relative path written by hand is taken from the project's folder */
  json_object_set_string_member (object_at (root, "clip"), "path", "clip.mp4");
  json_object_set_string_member (object_at (root, "results[0]"), "output", "sub/out.mp4");
  write_json (bad, root);
  g_autoptr (FaProject) relative = load_ok (bad);
  g_autofree char *out = g_build_filename (f->dir, "sub", "out.mp4", NULL);
  g_assert_cmpstr (fa_project_get_clip_path (relative), ==, f->clip);
  g_assert_cmpstr (fa_project_get_result (relative, 0)->output_path, ==, out);
}

/* ---- saving ---- */

static void
test_save_failure (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (FaProject) project = make_full_project (f, masks);
  gsize old_length;

  save_ok (project, f->project);
  g_autofree char *old_text = read_text (f->project, &old_length);
  guint n_entries = count_entries (f->dir);

  /* a change, so that a save that went through would show */
  fa_project_set_prompts (project, "something", "else entirely", NULL);
  const gssize fail_at[] = { 0, 1, 1000, (gssize) old_length / 2, (gssize) old_length - 1 };
  for (gsize i = 0; i < G_N_ELEMENTS (fail_at); i++)
    {
      fa_project_set_save_failure_for_testing (fail_at[i]);
      g_assert_false (fa_project_save (project, f->project, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
      g_clear_error (&error);

      gsize length;
      g_autofree char *text = read_text (f->project, &length);
      g_assert_cmpmem (text, length, old_text, old_length);
      /* no temporary file left behind */
      g_assert_cmpuint (count_entries (f->dir), ==, n_entries);
    }

  /* a failed first save leaves nothing */
  g_autofree char *fresh = g_build_filename (f->dir, "fresh" FA_PROJECT_EXTENSION, NULL);
  g_assert_false (fa_project_save (project, fresh, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);
  g_assert_false (g_file_test (fresh, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_entries (f->dir), ==, n_entries);

  /* beyond the file's length nothing fails */
  fa_project_set_save_failure_for_testing (G_MAXSSIZE);
  save_ok (project, f->project);
  fa_project_set_save_failure_for_testing (-1);
  g_autoptr (FaProject) loaded = load_ok (f->project);
  g_assert_cmpstr (fa_project_get_source_prompt (loaded), ==, "something");
  g_assert_cmpuint (count_entries (f->dir), ==, n_entries);

  /* into a folder that does not exist */
  g_autofree char *nowhere = g_build_filename (f->dir, "no", "such", "edit.fanchor", NULL);
  g_assert_false (fa_project_save (project, nowhere, &error));
  fa_test_assert_error_message (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, nowhere);
}

/* ---- the clip ---- */

static void
patch_byte (const char *path, gsize offset)
{
  gsize length;
  g_autofree char *data = read_text (path, &length);

  g_assert_cmpuint (offset, <, length);
  data[offset] ^= 0x5a;
  write_text (path, data, (gssize) length);
}

static void
test_clip_check (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = fa_project_new (f->clip, &error);

  g_assert_no_error (error);
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_OK);
  g_assert_no_error (error);

  /* the same bytes written again: still the same clip */
  gsize length;
  g_autofree char *original = read_text (f->clip, &length);
  write_text (f->clip, original, (gssize) length);
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_OK);

  /* a change in the last MiB, the size unchanged */
  patch_byte (f->clip, CLIP_SIZE - MIB / 2);
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_CHANGED);
  g_assert_no_error (error);
  write_text (f->clip, original, (gssize) length);
  /* in the first MiB */
  patch_byte (f->clip, 10);
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_CHANGED);
  write_text (f->clip, original, (gssize) length);
  /* one byte shorter */
  write_text (f->clip, original, (gssize) length - 1);
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_CHANGED);
  write_text (f->clip, original, (gssize) length);
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_OK);

  /* the state survives a save and load */
  save_ok (project, f->project);
  g_autoptr (FaProject) loaded = load_ok (f->project);
  g_assert_cmpint (fa_project_check_clip (loaded, &error), ==, FA_PROJECT_CLIP_OK);

  /* moved away: missing; pointed at the new place: fine again */
  g_autofree char *moved = g_build_filename (f->dir, "moved.mp4", NULL);
  g_assert_no_errno (g_rename (f->clip, moved));
  g_assert_cmpint (fa_project_check_clip (loaded, &error), ==, FA_PROJECT_CLIP_MISSING);
  g_assert_no_error (error);
  g_assert_true (fa_project_set_clip_path (loaded, moved, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (fa_project_get_clip_path (loaded), ==, moved);
  g_assert_cmpint (fa_project_check_clip (loaded, &error), ==, FA_PROJECT_CLIP_OK);

  /* a different clip at the old path: changed; re-recording accepts it */
  write_random_file (f->clip, 5000, 8);
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_CHANGED);
  g_assert_true (fa_project_set_clip_path (project, f->clip, &error));
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_OK);
  g_assert_no_error (error);

  /* a failed re-pointing changes nothing */
  g_autofree char *missing = g_build_filename (f->dir, "missing.mp4", NULL);
  g_assert_false (fa_project_set_clip_path (project, missing, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpstr (fa_project_get_clip_path (project), ==, f->clip);

  /* removed: missing; a folder in its place: changed */
  g_assert_no_errno (g_unlink (f->clip));
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_MISSING);
  g_assert_no_error (error);
  g_assert_no_errno (g_mkdir (f->clip, 0700));
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_CHANGED);
  g_assert_no_error (error);

  /* an empty clip hashes too */
  g_autofree char *empty = g_build_filename (f->dir, "empty.mp4", NULL);
  write_text (empty, "", 0);
  g_assert_true (fa_project_set_clip_path (project, empty, &error));
  g_assert_no_error (error);
  g_assert_cmpint (fa_project_check_clip (project, &error), ==, FA_PROJECT_CLIP_OK);
}

/* ---- the edit's range ---- */

static void
assert_range (FaProject *project, int first, int count)
{
  int f = -1, c = -1;

  fa_project_get_range (project, &f, &c);
  g_assert_cmpint (f, ==, first);
  g_assert_cmpint (c, ==, count);
}

static void
test_range (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = fa_project_new (f->clip, &error);

  g_assert_no_error (error);
  assert_range (project, 0, 0);
  g_assert_true (fa_project_set_range (project, 4, 9, &error));
  g_assert_no_error (error);
  assert_range (project, 4, 9);

  /* not 1 + 4k in [5, 81], or a negative first frame: refused, the range kept */
  const struct {
    int first, count;
    const char *fragment;
  } bad[] = {
    { 0, 6, "6 frames" }, { 0, 3, "3 frames" }, { 0, 1, "1 frames" }, { 0, 85, "85 frames" },
    { 0, -5, "-5 frames" }, { -1, 5, "frame -1" }, { -4, 0, "frame -4" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (fa_project_set_range (project, bad[i].first, bad[i].count, &error));
      fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, bad[i].fragment);
      g_clear_error (&error);
      assert_range (project, 4, 9);
    }
  /* both ends of the counts */
  g_assert_true (fa_project_set_range (project, 0, 5, &error));
  assert_range (project, 0, 5);
  g_assert_true (fa_project_set_range (project, 100, 81, &error));
  assert_range (project, 100, 81);

  /* saved inside "working", and read back */
  save_ok (project, f->project);
  g_autoptr (JsonNode) root = parse_file (f->project);
  g_assert_cmpint (json_object_get_int_member (object_at (root, "working.range"), "first"), ==, 100);
  g_assert_cmpint (json_object_get_int_member (object_at (root, "working.range"), "count"), ==, 81);
  g_autoptr (FaProject) loaded = load_ok (f->project);
  assert_range (loaded, 100, 81);

  /* count 0 is the whole clip, whatever the first frame was */
  g_assert_true (fa_project_set_range (loaded, 7, 0, &error));
  g_assert_no_error (error);
  assert_range (loaded, 0, 0);
  save_ok (loaded, f->project);
  g_autoptr (FaProject) whole = load_ok (f->project);
  assert_range (whole, 0, 0);
}

/* A project written before the range and the view existed. */
static void
test_old_project (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaMaskSet) masks = make_masks ();
  g_autoptr (FaProject) project = make_full_project (f, masks);

  g_assert_true (fa_project_set_range (project, 8, 5, &error));
  fa_project_set_view_value (project, "zoom", g_variant_new_double (1.5));
  save_ok (project, f->project);
  g_autoptr (JsonNode) root = parse_file (f->project);
  g_assert_true (json_object_has_member (object_at (root, "working"), "range"));
  json_object_remove_member (object_at (root, "working"), "range");
  g_assert_true (json_object_has_member (json_node_get_object (root), "view"));
  json_object_remove_member (json_node_get_object (root), "view");
  write_json (f->project, root);

  g_autoptr (FaProject) old = load_ok (f->project);
  assert_range (old, 0, 0);
  g_assert_null (fa_project_get_view_value (old, "zoom", G_VARIANT_TYPE_DOUBLE));
  /* the whole clip: every keyframe, on its own frame */
  g_autoptr (FaMaskSet) back = fa_mask_set_new (WORK_FRAMES, WORK_W, WORK_H, &error);
  g_assert_no_error (error);
  g_assert_true (fa_project_apply_range_keyframes (old, back, &error));
  g_assert_no_error (error);
  g_assert_cmpint (fa_mask_set_list_keyframes (back, NULL), ==, 2);
  g_assert_true (fa_mask_set_is_keyframe (back, 16));
  g_assert_cmpmem (fa_mask_set_peek_frame (back, 16), WORK_W * WORK_H, fa_mask_set_peek_frame (masks, 16),
                   WORK_W * WORK_H);
  FaWorkingClipOptions working, range;
  fa_project_get_working_options (old, &working);
  fa_project_get_range_options (old, &range);
  g_assert_cmpmem (&range, sizeof range, &working, sizeof working);
}

static void
test_range_options (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = fa_project_new (f->clip, &error);
  FaWorkingClipOptions working, options;

  g_assert_no_error (error);
  /* 1.5 s to 9.25 s at 24000/1001 fps */
  set_changed_working (&working);
  fa_project_set_working_options (project, &working);

  /* no range: the working options */
  fa_project_get_range_options (project, &options);
  g_assert_cmpmem (&options, sizeof options, &working, sizeof working);

  /* frames 10 to 18: 10 · 1001/24000 s = 0.417083333… s after the start, 19 · 1001/24000 s = 0.792458333… s */
  g_assert_true (fa_project_set_range (project, 10, 9, &error));
  fa_project_get_range_options (project, &options);
  g_assert_cmpint (options.start_ns, ==, 1917083333);
  g_assert_cmpint (options.end_ns, ==, 2292458333);
  g_assert_cmpint (options.max_frames, ==, 9);
  g_assert_cmpint (options.fps_n, ==, 24000);
  g_assert_cmpint (options.fps_d, ==, 1001);
  g_assert_cmpint (options.width, ==, WORK_W);
  g_assert_cmpint (options.height, ==, WORK_H);
  g_assert_cmpint (options.fit, ==, FA_CLIP_FIT_PAD);

  /* past the working end: the end stays the working end */
  g_assert_true (fa_project_set_range (project, 180, 9, &error));
  fa_project_get_range_options (project, &options);
  g_assert_cmpint (options.start_ns, ==, 1500000000 + 7507500000);
  g_assert_cmpint (options.end_ns, ==, 9250000000);

  /* to the clip's end: the range's own end */
  working.end_ns = -1;
  fa_project_set_working_options (project, &working);
  fa_project_get_range_options (project, &options);
  g_assert_cmpint (options.end_ns, ==, 1500000000 + 7882875000);

  /* the source's own rate: the frame times are not known, nothing moves */
  working.fps_n = 0;
  working.fps_d = 0;
  fa_project_set_working_options (project, &working);
  fa_project_get_range_options (project, &options);
  g_assert_cmpmem (&options, sizeof options, &working, sizeof working);
}

/* Decodes @clip whole with @working and, for each range, with the range's
 * options: the range must be exactly the whole clip's frames there. */
static void
assert_range_decodes (const char *clip, const FaWorkingClipOptions *working)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = fa_project_new (clip, &error);
  g_assert_no_error (error);
  fa_project_set_working_options (project, working);
  g_autoptr (FaWorkingClip) whole = fa_working_clip_decode (clip, working, NULL, &error);
  g_assert_no_error (error);
  gsize frame_bytes = (gsize) whole->width * whole->height * 3;

  /* the frames all differ, so that a range off by one frame shows */
  g_assert_cmpint (whole->n_frames, >=, 21);
  for (int i = 1; i < whole->n_frames; i++)
    g_assert_true (memcmp (fa_working_clip_frame (whole, i - 1), fa_working_clip_frame (whole, i), frame_bytes) != 0);

  const int ranges[][2] = { { 0, 5 }, { 1, 5 }, { 3, 9 }, { 6, 5 }, { 9, 9 }, { whole->n_frames - 5, 5 } };
  for (gsize r = 0; r < G_N_ELEMENTS (ranges); r++)
    {
      int first = ranges[r][0], count = ranges[r][1];
      FaWorkingClipOptions options;

      g_assert_true (fa_project_set_range (project, first, count, &error));
      fa_project_get_range_options (project, &options);
      g_autoptr (FaWorkingClip) part = fa_working_clip_decode (clip, &options, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (part->n_frames, ==, count);
      for (int i = 0; i < count; i++)
        if (memcmp (fa_working_clip_frame (part, i), fa_working_clip_frame (whole, first + i), frame_bytes) != 0)
          g_error ("frame %d of the range %d+%d (source time %" G_GINT64_FORMAT " ns) is not frame %d of the whole "
                   "clip (source time %" G_GINT64_FORMAT " ns)", i, first, count, part->source_pts_ns[i], first + i,
                   whole->source_pts_ns[first + i]);
    }
}

/* A 16 fps clip at 16 fps: the working frames are the source frames. */
static void
test_range_decode_same_rate (Fixture *f, gconstpointer data)
{
  g_autofree char *clip = fa_test_make_mp4 (f->dir, "same.mp4", 40, 160, 96, 16, FALSE, "ball");
  FaWorkingClipOptions working;

  fa_working_clip_options_init (&working);
  working.width = 160;
  working.height = 96;
  working.max_frames = 33;
  g_test_message ("from the clip's start");
  assert_range_decodes (clip, &working);
  /* a start between two source frames */
  working.start_ns = 100000000;
  g_test_message ("from 0.1 s");
  assert_range_decodes (clip, &working);
}

/* A 30 fps clip at 16 fps, and at 24000/1001 (a frame time that is no
 * whole number of nanoseconds): each working frame is the source frame
 * nearest its time, the range's first and last ones too. */
static void
test_range_decode_resampled (Fixture *f, gconstpointer data)
{
  g_autofree char *clip = fa_test_make_mp4 (f->dir, "resampled.mp4", 60, 160, 96, 30, FALSE, "ball");
  FaWorkingClipOptions working;

  fa_working_clip_options_init (&working);
  working.width = 160;
  working.height = 96;
  working.max_frames = 33;
  g_test_message ("16 fps from the clip's start");
  assert_range_decodes (clip, &working);
  working.start_ns = 300000000;
  g_test_message ("16 fps from 0.3 s");
  assert_range_decodes (clip, &working);
  working.start_ns = 123456789;
  working.fps_n = 24000;
  working.fps_d = 1001;
  g_test_message ("24000/1001 fps from 0.123456789 s");
  assert_range_decodes (clip, &working);
}

static void
fill_keyframe (FaMaskSet *masks, int frame, guint8 seed)
{
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *alpha = g_malloc ((gsize) WORK_W * WORK_H);

  for (gsize i = 0; i < (gsize) WORK_W * WORK_H; i++)
    alpha[i] = (guint8) (i * 13 + seed);
  g_assert_true (fa_mask_set_set_keyframe (masks, frame, alpha, &error));
  g_assert_no_error (error);
}

static void
test_range_keyframes (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = fa_project_new (f->clip, &error);
  g_autoptr (FaMaskSet) masks = fa_mask_set_new (WORK_FRAMES, WORK_W, WORK_H, &error);
  FaWorkingClipOptions working;

  g_assert_no_error (error);
  set_changed_working (&working);
  fa_project_set_working_options (project, &working);
  const int keys[] = { 2, 5, 12, 13, 20 };
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    fill_keyframe (masks, keys[i], (guint8) (i * 40 + 1));
  g_assert_true (fa_project_set_keyframes (project, masks, &error));
  g_assert_no_error (error);

  /* frames 4 to 12: keyframes 5 and 12 on frames 1 and 8; 2, 13 and 20 lie outside */
  g_assert_true (fa_project_set_range (project, 4, 9, &error));
  g_autoptr (FaMaskSet) range = fa_mask_set_new (9, WORK_W, WORK_H, &error);
  g_assert_no_error (error);
  g_assert_true (fa_project_apply_range_keyframes (project, range, &error));
  g_assert_no_error (error);
  int frames[9];
  g_assert_cmpint (fa_mask_set_list_keyframes (range, frames), ==, 2);
  g_assert_cmpint (frames[0], ==, 1);
  g_assert_cmpint (frames[1], ==, 8);
  g_assert_cmpmem (fa_mask_set_peek_frame (range, 1), WORK_W * WORK_H, fa_mask_set_peek_frame (masks, 5),
                   WORK_W * WORK_H);
  g_assert_cmpmem (fa_mask_set_peek_frame (range, 8), WORK_W * WORK_H, fa_mask_set_peek_frame (masks, 12),
                   WORK_W * WORK_H);

  /* too few frames for keyframe 12: refused, nothing set */
  g_autoptr (FaMaskSet) short_set = fa_mask_set_new (5, WORK_W, WORK_H, &error);
  g_assert_false (fa_project_apply_range_keyframes (project, short_set, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "frame 12");
  g_clear_error (&error);
  g_assert_cmpint (fa_mask_set_list_keyframes (short_set, NULL), ==, 0);
  /* another size */
  g_autoptr (FaMaskSet) small = fa_mask_set_new (9, WORK_W / 2, WORK_H, &error);
  g_assert_false (fa_project_apply_range_keyframes (project, small, &error));
  fa_test_assert_error_message (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "keyframe 5");
  g_clear_error (&error);
  g_assert_cmpint (fa_mask_set_list_keyframes (small, NULL), ==, 0);

  /* a range without keyframes: none set */
  g_assert_true (fa_project_set_range (project, 24, 5, &error));
  g_autoptr (FaMaskSet) empty = fa_mask_set_new (5, WORK_W, WORK_H, &error);
  g_assert_true (fa_project_apply_range_keyframes (project, empty, &error));
  g_assert_no_error (error);
  g_assert_cmpint (fa_mask_set_list_keyframes (empty, NULL), ==, 0);

  /* the whole clip: every keyframe where it is */
  g_assert_true (fa_project_set_range (project, 0, 0, &error));
  g_autoptr (FaMaskSet) all = fa_mask_set_new (WORK_FRAMES, WORK_W, WORK_H, &error);
  g_assert_true (fa_project_apply_range_keyframes (project, all, &error));
  g_assert_no_error (error);
  int all_frames[WORK_FRAMES];
  g_assert_cmpint (fa_mask_set_list_keyframes (all, all_frames), ==, G_N_ELEMENTS (keys));
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    g_assert_cmpint (all_frames[i], ==, keys[i]);
}

/* ---- the app's view ---- */

static void
assert_view (FaProject *project, const char *key, const char *type, const char *expected)
{
  g_autoptr (GVariant) value = fa_project_get_view_value (project, key, G_VARIANT_TYPE (type));

  if (expected == NULL)
    {
      g_assert_null (value);
      return;
    }
  g_assert_nonnull (value);
  g_assert_cmpstr (g_variant_get_type_string (value), ==, type);
  g_autofree char *text = g_variant_print (value, FALSE);
  g_assert_cmpstr (text, ==, expected);
}

static void
test_view (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaProject) project = fa_project_new (f->clip, &error);

  g_assert_no_error (error);
  assert_view (project, "zoom", "d", NULL);
  fa_project_set_view_value (project, "overlay", g_variant_new_boolean (TRUE));
  fa_project_set_view_value (project, "brush-radius", g_variant_new_int32 (-17));
  fa_project_set_view_value (project, "frame", g_variant_new_int32 (G_MAXINT32));
  fa_project_set_view_value (project, "zoom", g_variant_new_double (2.0));
  fa_project_set_view_value (project, "center-x", g_variant_new_double (0.1));
  fa_project_set_view_value (project, "tool", g_variant_new_string ("brush \"soft\" — été"));
  fa_project_set_view_value (project, "gone", g_variant_new_string ("soon"));
  fa_project_set_view_value (project, "gone", NULL);
  /* a key set again takes the new value and type */
  fa_project_set_view_value (project, "mode", g_variant_new_int32 (3));
  fa_project_set_view_value (project, "mode", g_variant_new_string ("box"));

  save_ok (project, f->project);
  g_autoptr (FaProject) loaded = load_ok (f->project);
  FaProject *both[] = { project, loaded };
  for (gsize i = 0; i < G_N_ELEMENTS (both); i++)
    {
      FaProject *p = both[i];
      assert_view (p, "overlay", "b", "true");
      assert_view (p, "brush-radius", "i", "-17");
      assert_view (p, "frame", "i", "2147483647");
      assert_view (p, "zoom", "d", "2.0");
      assert_view (p, "center-x", "d", "0.10000000000000001");
      assert_view (p, "tool", "s", "'brush \"soft\" — été'");
      assert_view (p, "mode", "s", "'box'");
      assert_view (p, "gone", "s", NULL);
      /* another type than the one stored: nothing */
      assert_view (p, "overlay", "i", NULL);
      assert_view (p, "tool", "b", NULL);
      assert_view (p, "mode", "i", NULL);
      /* 2.0 stays a double through the file */
      assert_view (p, "zoom", "i", NULL);
      /* an integer is also read as a double, as a hand-written "zoom": 2 would be */
      assert_view (p, "brush-radius", "d", "-17.0");
    }
  g_autoptr (GVariant) center = fa_project_get_view_value (loaded, "center-x", G_VARIANT_TYPE_DOUBLE);
  g_assert_cmpfloat (g_variant_get_double (center), ==, 0.1);

  /* plain JSON values under "view", in the order of the keys */
  g_autoptr (JsonNode) root = parse_file (f->project);
  JsonObject *view = object_at (root, "view");
  g_assert_cmpuint (json_object_get_size (view), ==, 7);
  g_assert_true (json_object_get_boolean_member (view, "overlay"));
  g_assert_cmpint (json_object_get_int_member (view, "brush-radius"), ==, -17);
  g_assert_cmpfloat (json_object_get_double_member (view, "zoom"), ==, 2.0);
  g_assert_cmpstr (json_object_get_string_member (view, "mode"), ==, "box");
  g_autoptr (GList) names = json_object_get_members (view);
  for (GList *l = names; l != NULL && l->next != NULL; l = l->next)
    g_assert_cmpint (strcmp (l->data, l->next->data), <, 0);

  /* a removal reaches the file: "view" is this version's, not kept as unknown */
  fa_project_set_view_value (loaded, "tool", NULL);
  g_autofree char *second = g_build_filename (f->dir, "second" FA_PROJECT_EXTENSION, NULL);
  save_ok (loaded, second);
  g_autoptr (FaProject) again = load_ok (second);
  assert_view (again, "tool", "s", NULL);
  assert_view (again, "overlay", "b", "true");
  g_autoptr (JsonNode) second_root = parse_file (second);
  g_assert_false (json_object_has_member (object_at (second_root, "view"), "tool"));
  g_assert_cmpuint (json_object_get_size (object_at (second_root, "view")), ==, 6);

  /* hand-written: an integer zoom reads as a double, a fraction not as an integer */
  json_object_set_int_member (view, "zoom", 3);
  json_object_set_double_member (view, "frame", 4.5);
  write_json (f->project, root);
  g_autoptr (FaProject) hand = load_ok (f->project);
  assert_view (hand, "zoom", "d", "3.0");
  assert_view (hand, "zoom", "i", "3");
  assert_view (hand, "frame", "i", NULL);
  assert_view (hand, "frame", "d", "4.5");
}

static void
test_cache_folder (void)
{
  g_autofree char *a = fa_project_cache_folder ("/home/u/edits/beach" FA_PROJECT_EXTENSION);
  g_autofree char *b = fa_project_cache_folder ("/home/u/edits/beach");
  g_autofree char *c = fa_project_cache_folder ("beach.json");

  g_assert_cmpstr (a, ==, "/home/u/edits/beach.fanchor-cache");
  g_assert_cmpstr (b, ==, "/home/u/edits/beach.fanchor-cache");
  g_assert_cmpstr (c, ==, "beach.json.fanchor-cache");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) g_test_add ("/project/" name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("round-trip", test_round_trip);
  ADD ("defaults", test_defaults);
  ADD ("prompts", test_prompts);
  ADD ("keyframe-sizes", test_keyframe_sizes);
  ADD ("unknown-fields", test_unknown_fields);
  ADD ("truncated", test_truncated);
  ADD ("newer-version", test_newer_version);
  ADD ("bad-fields", test_bad_fields);
  ADD ("save-failure", test_save_failure);
  ADD ("clip-check", test_clip_check);
  ADD ("range", test_range);
  ADD ("old-project", test_old_project);
  ADD ("range-options", test_range_options);
  ADD ("range-decode/same-rate", test_range_decode_same_rate);
  ADD ("range-decode/resampled", test_range_decode_resampled);
  ADD ("range-keyframes", test_range_keyframes);
  ADD ("view", test_view);
#undef ADD
  g_test_add_func ("/project/cache-folder", test_cache_folder);
  return g_test_run ();
}
