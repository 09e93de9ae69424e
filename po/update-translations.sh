#!/bin/sh
# update-translations.sh [LANG...]: brings po/LANG.po up to date with the
# sources, for every language in po/LINGUAS (or the LANGs given): extracts
# the template afresh, merges it into each .po (a missing one is created
# with msginit), and prints what is left to translate.
#
# A merge keeps every translation whose string did not change, marks the
# ones whose string changed as fuzzy (with the old string as `#| msgid`),
# and adds new strings untranslated. Translate those, drop the fuzzy flags
# once checked, then run `meson test -C BUILD translations`.
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

podir=$(cd "$(dirname "$0")" && pwd)
srcroot=$(dirname "$podir")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ $# -eq 0 ]; then
  # shellcheck disable=SC2046
  set -- $(sed -e 's/#.*//' "$podir/LINGUAS")
fi

"$podir/make-pot.sh" "$srcroot" "$tmp/flowanchor.pot"
echo "template: $(grep -c '^msgid ' "$tmp/flowanchor.pot" | awk '{ print $1 - 1 }') strings"

for lang in "$@"; do
  po="$podir/$lang.po"
  if [ -f "$po" ]; then
    msgmerge --quiet --previous --backup=none --update "$po" "$tmp/flowanchor.pot"
  else
    msginit --no-translator --locale="$lang" --input="$tmp/flowanchor.pot" --output-file="$tmp/new.po"
    # msginit takes the charset from an installed locale, ASCII without one.
    sed -e 's/charset=[A-Za-z0-9-]*\\n/charset=UTF-8\\n/' "$tmp/new.po" > "$po"
    echo "$lang: created $po; add $lang to po/LINGUAS"
  fi
  # Obsolete entries only grow the file; the history is in git.
  msgattrib --no-obsolete --output-file="$po" "$po"

  stats=$(LC_ALL=C msgfmt --statistics --output-file=/dev/null "$po" 2>&1)
  echo "$lang: $stats"
  for kind in untranslated only-fuzzy; do
    msgattrib --"$kind" --no-obsolete --no-location --no-wrap "$po" \
      | sed -n -e 's/^msgid "\(..*\)"$/  '"${kind#only-}"': \1/p'
  done
done
