# fig_line.gp — set-up of a figure with linear axes (loaded by a generated driver,
# which then issues the plot command).  The driver defines: outfile, xlabel_text,
# ylabel_text, title_text.
set output outfile
set autoscale xfix
set autoscale yfix
set offsets graph 0.04, graph 0.04, graph 0.08, graph 0.08
set xlabel xlabel_text
set ylabel ylabel_text
if (strlen(title_text) > 0) set title title_text
