/* flowanchor probe: what a clip holds, as the engine reads it.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-probe"

#include "config.h"

#include <json-glib/json-glib.h>
#include <stdio.h>

#include "fa-cli.h"
#include "fa-clip.h"
#include "fa-error.h"

static gboolean as_json = FALSE;

static const GOptionEntry entries[] = {
  { "json", 'j', 0, G_OPTION_ARG_NONE, &as_json, "Print one JSON object instead of text", NULL },
  { NULL },
};

/* as a player shows it: the width stretched by the pixel aspect */
static int
display_width (const FaClipInfo *info)
{
  return (int) (((gint64) info->width * info->par_n + info->par_d / 2) / info->par_d);
}

static char *
format_duration (gint64 ns)
{
  gint64 ms = (ns + 500000) / 1000000;

  if (ns < 0)
    return g_strdup ("unknown");
  return g_strdup_printf ("%" G_GINT64_FORMAT ":%02d:%02d.%03d (%.3f s)", ms / 3600000, (int) (ms / 60000 % 60),
                          (int) (ms / 1000 % 60), (int) (ms % 1000), ns / 1e9);
}

static char *
format_rate (const FaClipInfo *info)
{
  if (info->fps_n <= 0)
    return g_strdup (info->variable_rate ? "variable" : "unknown");
  g_autofree char *rate = info->fps_d == 1 ? g_strdup_printf ("%d fps", info->fps_n)
                                           : g_strdup_printf ("%d/%d fps (%.3f)", info->fps_n, info->fps_d,
                                                              (double) info->fps_n / info->fps_d);
  if (info->variable_rate)
    return g_strdup_printf ("variable, at most %s", rate);
  return g_steal_pointer (&rate);
}

static void
print_text (const FaClipInfo *info)
{
  g_autofree char *duration = format_duration (info->duration_ns);
  g_autofree char *rate = format_rate (info);

  printf ("%s\n", info->path);
  printf ("  container     %s\n", info->container != NULL ? info->container : "unknown");
  printf ("  size          %d×%d\n", info->width, info->height);
  printf ("  pixel aspect  %d:%d\n", info->par_n, info->par_d);
  printf ("  display size  %d×%d\n", display_width (info), info->height);
  printf ("  frame rate    %s\n", rate);
  printf ("  rotation      %d°\n", info->rotation);
  printf ("  duration      %s\n", duration);
  if (info->n_frames >= 0)
    printf ("  frames        %" G_GINT64_FORMAT "\n", info->n_frames);
  else
    printf ("  frames        unknown\n");
  printf ("  video codec   %s\n", info->video_codec != NULL ? info->video_codec : "unknown");
  if (info->has_audio)
    printf ("  audio codec   %s%s\n", info->audio_codec != NULL ? info->audio_codec : "unknown",
            info->audio_is_aac ? " (copied as is into an MP4 export)" : "");
  else
    printf ("  audio codec   none\n");
}

static void
add_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
add_bool (JsonBuilder *b, const char *name, gboolean value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_boolean_value (b, value);
}

static void
print_json (const FaClipInfo *info)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  add_string (b, "path", info->path);
  add_string (b, "container", info->container);
  add_int (b, "width", info->width);
  add_int (b, "height", info->height);
  add_int (b, "par_n", info->par_n);
  add_int (b, "par_d", info->par_d);
  add_int (b, "display_width", display_width (info));
  add_int (b, "display_height", info->height);
  add_int (b, "fps_n", info->fps_n);
  add_int (b, "fps_d", info->fps_d);
  add_bool (b, "variable_rate", info->variable_rate);
  add_int (b, "rotation", info->rotation);
  add_int (b, "duration_ns", info->duration_ns);
  add_int (b, "n_frames", info->n_frames);
  add_string (b, "video_codec", info->video_codec);
  add_bool (b, "has_audio", info->has_audio);
  add_string (b, "audio_codec", info->audio_codec);
  add_bool (b, "audio_is_aac", info->audio_is_aac);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, NULL);
  printf ("%s\n", text);
}

int
fa_cli_probe (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("FILE");
  g_autoptr (GError) error = NULL;
  g_autoptr (FaClipInfo) info = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Prints what a clip holds as the editor reads it: container, frame size\n"
                                "(after the rotation tag is applied), pixel aspect, frame rate, rotation,\n"
                                "duration, frame count, video codec and audio codec.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "flowanchor probe: %s\n", error->message);
      return FA_CLI_USAGE;
    }
  if (argc != 2)
    {
      fprintf (stderr, "flowanchor probe: expected one FILE (see --help)\n");
      return FA_CLI_USAGE;
    }

  info = fa_clip_probe (argv[1], NULL, &error);
  if (info == NULL)
    {
      fprintf (stderr, "flowanchor probe: %s\n", error->message);
      return FA_CLI_FAILED;
    }
  if (as_json)
    print_json (info);
  else
    print_text (info);
  return FA_CLI_OK;
}
