/* fa-png.h: PNG files for masks and frames (libpng).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A mask from any 8- or 16-bit PNG: the alpha channel when the image has
 * one, else the grey level (RGB is reduced to BT.601 luma). Errors name
 * the file and the problem (missing, not a PNG, truncated, 0×0). */
guint8  *fa_png_load_alpha (const char *path, int *width, int *height, GError **error);
/* Packed RGB (8-bit), alpha dropped, grey expanded. */
guint8  *fa_png_load_rgb (const char *path, int *width, int *height, GError **error);
/* @channels 1 (grey) or 3 (RGB), packed rows. Written to a temporary file
 * beside @path, fsynced and renamed into place: an existing file is
 * replaced whole or not at all. */
gboolean fa_png_save (const char *path, const guint8 *pixels, int width, int height, int channels,
                      GError **error);

/* The same from and to memory (a PNG held inside another file); @what
 * names it in errors. fa_png_decode gives 8-bit pixels of *@channels
 * (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA), as the file holds them. */
guint8  *fa_png_decode (const guint8 *data, gsize length, const char *what, int *width, int *height,
                        int *channels, GError **error);
GBytes  *fa_png_encode (const guint8 *pixels, int width, int height, int channels, const char *what,
                        GError **error);

G_END_DECLS
