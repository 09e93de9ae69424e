/* fa-file.h: replacing a user's file whole or not at all: the writing,
 * syncing and renaming that every writer of the engine shares.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A G_IO_ERROR from @saved_errno: "PATH: WHAT: strerror". */
void     fa_file_set_io_error (GError **error, int saved_errno, const char *path, const char *what);
/* All of @size bytes, through interrupted and short writes; errors name @path. */
gboolean fa_file_write_all (int fd, const void *data, gsize size, const char *path, GError **error);
/* Finishes a temporary file written through @fd: when @ok, fsyncs and
 * closes it, renames it over @path and syncs the folder; when anything
 * fails (or @ok is FALSE: the caller's write failed and set the error), the
 * temporary file is closed and removed and FALSE is returned. */
gboolean fa_file_commit_temp (int fd, const char *tmp_path, const char *path, gboolean ok, GError **error);
/* Makes a rename into @path's folder durable; a failure to sync is no error. */
void     fa_file_sync_folder (const char *path);

G_END_DECLS
