# style.gp — the shared look of every prefsim figure (loaded by each figure driver).
# Colour-blind-safe palette (Okabe-Ito), thin frame, outward tics, key top right.
if (!exists("fmt")) fmt = "pdf"
if (fmt eq "png") {
    set terminal pngcairo size 1000,700 noenhanced font "Helvetica,16" linewidth 2
} else { if (fmt eq "cairolatex") {
    set terminal cairolatex pdf size 12cm,8.5cm
} else {
    set terminal pdfcairo size 12cm,8.5cm noenhanced font "Helvetica,11" linewidth 1.5
} }
set border 3 lw 1
set tics nomirror out scale 0.6
set grid back lc rgb "#dddddd" lw 0.5
set key outside bottom center horizontal maxrows 3 spacing 1.1 samplen 2.5 noautotitle
set style line 1 lc rgb "#0072B2" pt 7 ps 0.9 lw 2
set style line 2 lc rgb "#D55E00" pt 5 ps 0.9 lw 2
set style line 3 lc rgb "#009E73" pt 9 ps 1.0 lw 2
set style line 4 lc rgb "#CC79A7" pt 11 ps 1.0 lw 2
set style line 5 lc rgb "#E69F00" pt 13 ps 1.0 lw 2
set style line 6 lc rgb "#56B4E9" pt 15 ps 1.0 lw 2
set style line 7 lc rgb "#F0E442" pt 4 ps 1.0 lw 2
set style line 8 lc rgb "#000000" pt 6 ps 1.0 lw 2
set style line 100 lc rgb "#444444" dt 2 lw 1.5
set style line 101 lc rgb "#888888" dt 3 lw 1.5
set style increment user
