#!/bin/bash
# lib/doc: a document written as PDF and HTML, read back with poppler's
# tools: the page count the renderer reports is the file's, every row is
# there once, a long table repeats its header on each page and every page
# says "page N of M"; Latin and Cyrillic text survive; HTML is escaped; a
# bar chart is inline SVG of whole-pixel bars in HTML and drawn in the PDF;
# so is a line chart (vm_doc_series(): gaps, a dashed band, a capacity line).
. "$(dirname "$0")/../lib.sh"
plan 16
PROBE=$top_builddir/tests/doc_probe
[ -x "$PROBE" ] || bail "no $PROBE"
command -v pdfinfo >/dev/null || bail "no pdfinfo (poppler-utils)"
pages() { pdfinfo "$1" | awk '/^Pages:/ { print $2 }'; }

n=$("$PROBE" "$T/small.pdf" "$T/small.html" 3) || bail "the probe failed"
is "$(pages "$T/small.pdf")" "$n" "a short document: the pages the renderer counted are the file's ($n)"
is "$n" 1 "three rows fit on one page"

n=$("$PROBE" "$T/long.pdf" "$T/long.html" 300) || bail "the probe failed"
is "$(pages "$T/long.pdf")" "$n" "a long document: the pages the renderer counted are the file's ($n)"
[ "$n" -ge 5 ]
ok $? "300 rows take several pages ($n)"
pdftotext -layout "$T/long.pdf" "$T/long.txt" || bail "pdftotext failed"
missing=0
for i in $(seq 0 299); do
	c=$(grep -c "vm-$(printf %04d "$i")" "$T/long.txt")
	[ "$c" = 1 ] || missing=$((missing + 1))
done
is "$missing" 0 "every row once"
is "$(grep -c "Quantity *Rate *Amount" "$T/long.txt")" "$n" "the table's header on each of its pages"
is "$(grep -c "page [0-9]* of $n" "$T/long.txt")" "$n" "every page says page N of $n"
grep -q "ACME Łódź & Москва" "$T/long.txt"
ok $? "Latin and Cyrillic text as given"
pdftoppm -r 20 -f 1 -l 1 -png "$T/long.pdf" "$T/p1" >/dev/null 2>&1 && [ -s "$T/p1-01.png" ] || [ -s "$T/p1-1.png" ]
ok $? "the first page renders"
grep -q "&lt;script&gt;alert(1)&lt;/script&gt;" "$T/long.html" && ! grep -q "<script>" "$T/long.html"
ok $? "HTML escapes the text"
widths=$(grep -o '<rect [^>]*>' "$T/long.html" | sed 's/.*width="\([0-9]*\)".*fill="\([^"]*\)".*/\1 \2/' | tr '\n' ',')
is "$widths" "300 #4f81bd,149 #4f81bd,56 #c0504d,1 #4f81bd,0 #4f81bd," \
	"the bars in SVG: 300 pixels for the largest, in proportion (rounded down), a negative one in red, a small one visible"
grep -q "<figcaption>Amount by project</figcaption>" "$T/long.html" && grep -q "data &amp; &lt;b&gt;ml&lt;/b&gt;" "$T/long.html"
ok $? "its caption, its labels escaped"
grep -q "158.89 EUR" "$T/long.txt" && grep -q "data & <b>ml</b>" "$T/long.txt" && grep -q -- "-30.00 EUR" "$T/long.txt"
ok $? "the PDF draws the bars with their labels and texts"
n=$("$PROBE" "$T/chart.pdf" "$T/chart.html" 3 chart) || bail "the probe failed"
pdftotext -layout "$T/chart.pdf" "$T/chart.txt" || bail "pdftotext failed"
grep -q "<figcaption>CPU &amp; &lt;demand&gt;</figcaption>" "$T/chart.html" && grep -q ">demand &amp; &lt;peak&gt;</text>" "$T/chart.html"
ok $? "a line chart: its caption and legend escaped"
is "$(grep -c '<polyline fill="none" stroke="#4f81bd" points=' "$T/chart.html") $(grep -c '<polyline fill="none" stroke="#e07b20" points=' "$T/chart.html") $(grep -c '<polyline fill="none" stroke="#e07b20" stroke-dasharray' "$T/chart.html")" \
	"2 1 2" "the data in two runs around its gap, the forecast in one, the band's two edges dashed"
grep -q "usable 12 cores" "$T/chart.html" && grep -q "usable 12 cores" "$T/chart.txt" && grep -q "2026-10-10" "$T/chart.txt"
ok $? "the capacity line's label and the axis in HTML and PDF"
