#!/bin/sh
# make-pot.sh SRCROOT OUT.pot [FILE...]: extracts every translatable string
# of the files in po/POTFILES.in (or of the FILEs, relative to SRCROOT) into
# OUT.pot, with the arguments meson's
# i18n.gettext(preset: 'glib') gives xgettext, so that the checked template
# is the one `ninja flowanchor-pot` would write. .ui, .desktop.in,
# .metainfo.xml.in and .gschema.xml files go through the ITS rules that
# gettext, GTK, AppStream and GLib install.
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

if [ $# -lt 2 ]; then
  echo "usage: $0 SRCROOT OUT.pot [FILE...]" >&2
  exit 2
fi
srcroot=$1
out=$2
shift 2

# The keywords and flags of meson's glib preset (mesonbuild/modules/i18n.py).
FA_XGETTEXT_ARGS="--from-code=UTF-8 --add-comments
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2
  --keyword=g_dcgettext:2 --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3
  --flag=N_:1:pass-c-format --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format
  --flag=g_dngettext:2:pass-c-format --flag=g_strdup_printf:1:c-format
  --flag=g_string_printf:2:c-format --flag=g_string_append_printf:2:c-format
  --flag=g_error_new:3:c-format --flag=g_set_error:4:c-format
  --flag=g_markup_printf_escaped:1:c-format --flag=g_log:3:c-format
  --flag=g_print:1:c-format --flag=g_printerr:1:c-format --flag=g_printf:1:c-format
  --flag=g_fprintf:2:c-format --flag=g_sprintf:2:c-format --flag=g_snprintf:3:c-format"

if [ $# -eq 0 ]; then
  set -- -f "$srcroot/po/POTFILES.in"
fi

# shellcheck disable=SC2086
exec xgettext --package-name=flowanchor --msgid-bugs-address=https://github.com/flowanchor/studio/issues \
  -D "$srcroot" --force-po -o "$out" $FA_XGETTEXT_ARGS "$@"
