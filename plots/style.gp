# style.gp — the shared look of every prefsim figure (loaded by each figure driver,
# which sets size_w and size_h in cm first and fmt with -e "fmt='png'").
# Text 8 pt as printed.  PNG at 200 dpi.  Palette: Okabe-Ito without its yellow,
# darkest first; each style also has its own dash pattern and marker, so the series
# stay apart in grayscale and for colour-blind readers.
if (!exists("fmt")) fmt = "pdf"
if (!exists("size_w")) size_w = 8.5
if (!exists("size_h")) size_h = 6.4
dpi = 200.0
if (fmt eq "png") {
    set terminal pngcairo size int(size_w / 2.54 * dpi), int(size_h / 2.54 * dpi) noenhanced \
        font sprintf("Helvetica,%g", 8 * dpi / 72 / 1.25) linewidth dpi / 72 / 1.25
} else { if (fmt eq "cairolatex") {
    set terminal cairolatex pdf size size_w / 2.54, size_h / 2.54 linewidth 1
} else {
    set terminal pdfcairo size size_w / 2.54, size_h / 2.54 noenhanced font "Helvetica,8" linewidth 1
} }
set border 3 lw 1
set tics nomirror out scale 0.6
set grid back lc rgb "#e4e4e4" lw 0.5
set key samplen 2.5 spacing 1.1 noautotitle nobox
set bars small
set style line 1 lc rgb "#0072B2" dt 1             pt 7  ps 0.6 lw 1.5
set style line 2 lc rgb "#D55E00" dt (6,3)         pt 5  ps 0.6 lw 1.5
set style line 3 lc rgb "#009E73" dt (2,2)         pt 9  ps 0.7 lw 1.5
set style line 4 lc rgb "#CC79A7" dt (6,3,2,3)     pt 11 ps 0.7 lw 1.5
set style line 5 lc rgb "#000000" dt (10,4)        pt 6  ps 0.6 lw 1.5
set style line 6 lc rgb "#E69F00" dt (4,4)         pt 13 ps 0.7 lw 1.5
set style line 7 lc rgb "#56B4E9" dt (6,3,2,3,2,3) pt 4  ps 0.6 lw 1.5
set style line 8 lc rgb "#666666" dt (12,3,3,3)    pt 8  ps 0.7 lw 1.5
set style line 100 lc rgb "#444444" dt (8,4) lw 1
set style line 101 lc rgb "#444444" dt 3 lw 1
set style increment user
