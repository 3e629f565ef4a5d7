#!/usr/bin/env bash
# Writes public-domain English text for calibration and evaluation from the King James Bible of
# Debian's bible-kjv packages, from disjoint books:
#
#   OUT_DIR/calibration.txt   the Old Testament, Genesis 1:1 – Malachi 4:6 (23,145 verses, 3.2 MB)
#   OUT_DIR/evaluation.txt    Matthew 1:1 – Acts 28:31 (4,786 verses, 0.57 MB)
#
# One verse per line, without its reference ("In the beginning God created the heaven and the
# earth."), UTF-8 (the text is ASCII). Installs bible-kjv (the `bible` program, which depends on
# bible-kjv-text: /usr/lib/bible.data, a compressed text with its concordance) with apt-get if it
# is missing; safe to run again. `bible -f` turns pretty-printing off: one verse per line, each
# preceded by its reference ("Gen1:1 …"), which sed removes.
#
#   deploy/make-text.sh OUT_DIR
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1

if ! command -v bible >/dev/null 2>&1 || [ ! -f /usr/lib/bible.data ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "make-text: installing bible-kjv and bible-kjv-text" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends bible-kjv bible-kjv-text
fi

mkdir -p "$out"

# write NAME RANGE VERSES: the verses of RANGE into OUT_DIR/NAME, atomically, checking the count
# (bible silently clamps a reference it cannot resolve, so a wrong range would still print text).
write() {
  local name=$1 range=$2 expected=$3
  local partial="$out/.$name.partial-$$"
  bible -f "$range" | sed 's/^[^ ]* //' > "$partial"
  local verses
  verses=$(wc -l < "$partial")
  if [ "$verses" -ne "$expected" ]; then
    rm -f "$partial"
    echo "make-text: $range gave $verses verses, expected $expected" >&2
    exit 1
  fi
  mv "$partial" "$out/$name"
  echo "make-text: $out/$name: $range, $verses verses, $(wc -c < "$out/$name") bytes"
}

write calibration.txt "Gen1:1-Mal4:6" 23145
write evaluation.txt "Mat1:1-Act28:31" 4786
