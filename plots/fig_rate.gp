# fig_rate.gp — set-up of a log-log rate figure (loaded by a generated driver,
# which then issues the plot command: one mean +- CI series per curve, dotted
# theory curves, and a dashed reference line of the claimed slope).
# The driver defines: outfile, xlabel_text, ylabel_text, title_text.
set output outfile
set logscale xy
set format x "%g"
set format y "%g"
set mxtics 10
set mytics 10
set autoscale xfix
set autoscale yfix
set offsets graph 0.04, graph 0.04, graph 0.08, graph 0.08
set xlabel xlabel_text
set ylabel ylabel_text
if (strlen(title_text) > 0) set title title_text
