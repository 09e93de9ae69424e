/* flowanchor mask propagate: keyframe masks carried through a clip's
 * working frames by optical flow, written as one PNG per frame and,
 * optionally, as a clip with the mask drawn over it.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "flowanchor-mask"

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fa-cli.h"
#include "fa-error.h"
#include "fa-export.h"
#include "fa-mask-propagate.h"
#include "fa-png.h"

/* A mask file at the working size is taken as it is; one at the source's
 * decoded size is carried through the working clip's geometry (the crop
 * or the padding). Any other size is a mistake worth naming. */
static guint8 *
load_mask (const char *path, const FaWorkingClip *clip, GError **error)
{
  int width = 0, height = 0;
  g_autofree guint8 *alpha = fa_png_load_alpha (path, &width, &height, error);
  const FaClipGeometry *g = &clip->geometry;
  guint8 *working;

  if (alpha == NULL)
    return NULL;
  if (width == clip->width && height == clip->height)
    return g_steal_pointer (&alpha);
  if (clip->source == NULL || width != clip->source->width || height != clip->source->height)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_SHAPE,
                   "%s is %d×%d; a mask must have the working size (%d×%d) or the clip's (%d×%d)", path,
                   width, height, clip->width, clip->height, clip->source ? clip->source->width : clip->width,
                   clip->source ? clip->source->height : clip->height);
      return NULL;
    }
  working = g_malloc0 ((gsize) clip->width * clip->height);
  for (int y = 0; y < clip->height; y++)
    for (int x = 0; x < clip->width; x++)
      {
        double sx = ((x + 0.5) - g->offset_x) / g->scale_x, sy = ((y + 0.5) - g->offset_y) / g->scale_y;
        int i = (int) floor (sx), j = (int) floor (sy);
        if (i >= 0 && j >= 0 && i < width && j < height)
          working[(gsize) y * clip->width + x] = alpha[(gsize) j * width + i];
      }
  return working;
}

/* The clip with the mask tinted red and its outline solid: what a person
 * checks the propagation by. */
static void
draw_overlay (FaWorkingClip *clip, const FaMaskSet *masks)
{
  const int width = clip->width, height = clip->height;

  for (int t = 0; t < clip->n_frames; t++)
    {
      const guint8 *alpha = fa_mask_set_peek_frame (masks, t);
      guint8 *rgb = fa_working_clip_frame (clip, t);

      for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
          {
            gsize i = (gsize) y * width + x;
            gboolean inside = alpha[i] >= 128;
            gboolean edge = inside && (x == 0 || y == 0 || x == width - 1 || y == height - 1 || alpha[i - 1] < 128
                                       || alpha[i + 1] < 128 || alpha[i - width] < 128 || alpha[i + width] < 128);
            guint8 *p = rgb + 3 * i;
            if (edge)
              p[0] = 255, p[1] = 40, p[2] = 40;
            else if (inside)
              p[0] = (guint8) ((p[0] + 255) / 2), p[1] = (guint8) (p[1] / 2), p[2] = (guint8) (p[2] / 2);
          }
    }
}

static void
print_progress (guint done, guint total, gpointer user_data)
{
  fprintf (stderr, "%s: %u/%u\n", (const char *) user_data, done, total);
}

static int
mask_propagate (int argc, char **argv)
{
  g_autofree char *mask_path = NULL, *out_dir = NULL, *overlay = NULL, *device = NULL, *preset = NULL;
  g_auto (GStrv) keyframes = NULL;
  g_auto (FaCliWorkingArgs) working = FA_CLI_WORKING_ARGS_INIT;
  gboolean progress = FALSE;
  GOptionEntry entries[] = {
    { "mask", 0, 0, G_OPTION_ARG_FILENAME, &mask_path, "mask of the first working frame (PNG)", "PNG" },
    { "keyframe", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &keyframes, "a mask for working frame N (repeatable)", "N:PNG" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out_dir, "folder for mask-NNN.png, one per working frame", "DIR" },
    { "overlay", 0, 0, G_OPTION_ARG_FILENAME, &overlay, "also write the clip with the mask drawn over it", "OUT.mp4|OUT.webm" },
    FA_CLI_WORKING_ENTRIES (working),
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "cpu, cuda or auto (default)", "NAME" },
    { "preset", 0, 0, G_OPTION_ARG_STRING, &preset, "optical flow: fast, medium (default) or fine", "NAME" },
    { "progress", 0, 0, G_OPTION_ARG_NONE, &progress, "print progress even when stderr is not a terminal", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("FILE");
  g_autoptr (GError) error = NULL;
  g_autoptr (FaBackend) backend = NULL;
  g_autoptr (FaWorkingClip) clip = NULL;
  g_autoptr (FaMaskSet) masks = NULL;
  g_autofree guint8 *first = NULL;
  FaWorkingClipOptions clip_options;
  FaPropagateOptions options;
  gboolean show_progress;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context,
                                "Decodes the working clip of FILE, takes the mask of frame 0 (and any\n"
                                "later keyframes), propagates it through every working frame by optical\n"
                                "flow, and writes DIR/mask-000.png … one 8-bit mask per frame. Masks may\n"
                                "have the working size or the clip's own size. Prints each frame's\n"
                                "confidence.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "flowanchor mask propagate: %s\n", error->message);
      return FA_CLI_USAGE;
    }
  if (argc != 2 || mask_path == NULL || out_dir == NULL)
    {
      fprintf (stderr, "flowanchor mask propagate: expected FILE, --mask PNG and --out DIR (see --help)\n");
      return FA_CLI_USAGE;
    }

  if (!fa_cli_working_options (&working, &clip_options, &error))
    {
      fprintf (stderr, "flowanchor mask propagate: %s\n", error->message);
      return FA_CLI_USAGE;
    }

  fa_propagate_options_init (&options);
  if (preset != NULL)
    {
      if (g_str_equal (preset, "fast"))
        fa_flow_params_init (&options.flow, FA_FLOW_PRESET_FAST);
      else if (g_str_equal (preset, "fine"))
        fa_flow_params_init (&options.flow, FA_FLOW_PRESET_FINE);
      else if (!g_str_equal (preset, "medium"))
        {
          fprintf (stderr, "flowanchor mask propagate: --preset '%s' is not fast, medium or fine\n", preset);
          return FA_CLI_USAGE;
        }
    }

  show_progress = progress || isatty (fileno (stderr));
  if (show_progress)
    {
      clip_options.progress = print_progress;
      clip_options.progress_user_data = (gpointer) "decoding";
      options.progress = print_progress;
      options.progress_user_data = (gpointer) "propagating (frame pairs)";
    }

  backend = fa_cli_backend_by_name (device, &error);
  if (backend == NULL)
    goto failed;
  clip = fa_working_clip_decode (argv[1], &clip_options, NULL, &error);
  if (clip == NULL)
    goto failed;
  masks = fa_mask_set_new (clip->n_frames, clip->width, clip->height, &error);
  if (masks == NULL)
    goto failed;

  first = load_mask (mask_path, clip, &error);
  if (first == NULL || !fa_mask_set_set_keyframe (masks, 0, first, &error))
    goto failed;
  for (int k = 0; keyframes != NULL && keyframes[k] != NULL; k++)
    {
      int frame;
      const char *path;
      g_autofree guint8 *alpha = NULL;

      if (!fa_cli_parse_keyframe (keyframes[k], &frame, &path))
        {
          fprintf (stderr, "flowanchor mask propagate: --keyframe '%s' is not N:MASK.png\n", keyframes[k]);
          return FA_CLI_USAGE;
        }
      if (frame >= clip->n_frames)
        {
          g_set_error (&error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                       "keyframe %d is past the working clip's last frame (%d)", frame, clip->n_frames - 1);
          goto failed;
        }
      alpha = load_mask (path, clip, &error);
      if (alpha == NULL || !fa_mask_set_set_keyframe (masks, frame, alpha, &error))
        goto failed;
    }

  if (!fa_mask_propagate (masks, clip, backend, &options, NULL, &error))
    goto failed;

  if (g_mkdir_with_parents (out_dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot make the folder %s: %s", out_dir,
                   g_strerror (saved));
      goto failed;
    }
  for (int t = 0; t < clip->n_frames; t++)
    {
      g_autofree char *name = g_strdup_printf ("mask-%03d.png", t);
      g_autofree char *path = g_build_filename (out_dir, name, NULL);

      if (!fa_png_save (path, fa_mask_set_peek_frame (masks, t), clip->width, clip->height, 1, &error))
        goto failed;
      printf ("frame %3d  %-10s  confidence %.3f\n", t, fa_mask_set_is_keyframe (masks, t) ? "keyframe" : "propagated",
              fa_mask_set_get_confidence (masks, t));
    }
  printf ("wrote %d masks of %d×%d to %s\n", clip->n_frames, clip->width, clip->height, out_dir);

  if (overlay != NULL)
    {
      FaExportOptions export_options;

      fa_export_options_init (&export_options);
      export_options.size = FA_EXPORT_SIZE_WORKING;
      export_options.audio = FALSE;
      draw_overlay (clip, masks);
      if (!fa_export (clip, NULL, overlay, &export_options, NULL, &error))
        goto failed;
      printf ("wrote the overlay to %s\n", overlay);
    }
  return FA_CLI_OK;

failed:
  fprintf (stderr, "flowanchor mask propagate: %s\n", error->message);
  return FA_CLI_FAILED;
}

int
fa_cli_mask (int argc, char **argv)
{
  if (argc >= 2 && g_str_equal (argv[1], "propagate"))
    return mask_propagate (argc - 1, argv + 1);
  fprintf (stderr, "flowanchor mask: expected 'propagate' (flowanchor mask propagate --help)\n");
  return FA_CLI_USAGE;
}
