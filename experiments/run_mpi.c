/* run_mpi.c — the sweep over MPI ranks (built with `make MPI=1`; mpirun -np N).
 *
 * Rank 0 opens the output exactly as a single-process run would (run_open: resume,
 * refusals), broadcasts the list of cells to do, and is the one writer.  Every rank,
 * rank 0 included, takes cells dynamically from a shared counter in an MPI window on
 * rank 0 (MPI_Fetch_and_op), so a rank that finishes early simply takes more; OpenMP
 * threads inside a rank take cells the same way.  Worker ranks send each finished
 * cell to rank 0 as one fixed-size message; rank 0 polls for them between its own
 * cells and drains the rest at the end (each worker closes with a DONE message
 * carrying its count; MPI keeps one sender's messages in order).  Cells are
 * independent and keyed by their id, so the file equals a -j1 run.  Workers send
 * with MPI_Isend from a ring of buffers: a blocking send measured ~1 ms per cell
 * (it waited on rank 0's progress), a third of a cell's compute.  A signal on any
 * rank moves the counter past the end: every rank finishes its running cells and
 * stops; rank 0 marks the file INTERRUPTED, and the same command resumes it. */
#ifdef PS_MPI
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "run.h"

void openblas_set_num_threads(int n);

enum { TAG_RESULT = 11, TAG_DONE = 12 };
#define STOP_INDEX (1L << 60)

typedef struct {
  uint64_t cell;
  int32_t cell_status, iterations;
  double wall;
} msg_header;

static size_t msg_bytes(size_t ne, size_t nv) {
  return sizeof(msg_header) + nv * sizeof(double) + ne * sizeof(int32_t) + 2 * CELL_MAX_Q * sizeof(double) +
         ne * PS_MSG_LEN;
}

static void pack(char *buf, size_t ne, size_t nv, size_t cell, int cs, const cell_result *r) {
  msg_header h = {.cell = cell, .cell_status = cs, .iterations = r->iterations, .wall = r->wall_seconds};
  memcpy(buf, &h, sizeof h);
  buf += sizeof h;
  memcpy(buf, r->metrics, nv * sizeof(double));
  buf += nv * sizeof(double);
  for (size_t k = 0; k < ne; k++) {
    int32_t v = r->status[k];
    memcpy(buf, &v, sizeof v);
    buf += sizeof v;
  }
  memcpy(buf, r->truth, CELL_MAX_Q * sizeof(double));
  buf += CELL_MAX_Q * sizeof(double);
  memcpy(buf, r->theory, CELL_MAX_Q * sizeof(double));
  buf += CELL_MAX_Q * sizeof(double);
  for (size_t k = 0; k < ne; k++) memcpy(buf + k * PS_MSG_LEN, r->message[k], PS_MSG_LEN);
}

static void unpack(const char *buf, size_t ne, size_t nv, size_t *cell, int *cs, cell_result *r) {
  msg_header h;
  memcpy(&h, buf, sizeof h);
  buf += sizeof h;
  *cell = (size_t)h.cell;
  *cs = h.cell_status;
  r->iterations = h.iterations;
  r->wall_seconds = h.wall;
  memcpy(r->metrics, buf, nv * sizeof(double));
  buf += nv * sizeof(double);
  for (size_t k = 0; k < ne; k++) {
    int32_t v;
    memcpy(&v, buf, sizeof v);
    buf += sizeof v;
    r->status[k] = v;
  }
  memcpy(r->truth, buf, CELL_MAX_Q * sizeof(double));
  buf += CELL_MAX_Q * sizeof(double);
  memcpy(r->theory, buf, CELL_MAX_Q * sizeof(double));
  buf += CELL_MAX_Q * sizeof(double);
  for (size_t k = 0; k < ne; k++) {
    memcpy(r->message[k], buf + k * PS_MSG_LEN, PS_MSG_LEN);
    r->message[k][PS_MSG_LEN - 1] = 0;
  }
}

typedef struct {
  const experiment *e;
  const run_options *o;
  run_session *ss;
  run_summary *sum;
  MPI_Win win;
  char *rbuf;              /* rank 0: receive buffer */
  cell_result rr;          /* rank 0: unpacked received cell */
  int write_status;
  ps_msg write_msg;
  int done_ranks;
} mpi_state;

/* rank 0: receive one message that MPI_Probe/Iprobe found */
static void receive_one(mpi_state *st, const MPI_Status *probe) {
  size_t ne = st->e->n_estimators;
  MPI_Status s;
  if (probe->MPI_TAG == TAG_DONE) {
    long count;
    MPI_Recv(&count, 1, MPI_LONG, probe->MPI_SOURCE, TAG_DONE, MPI_COMM_WORLD, &s);
    st->done_ranks++;
    return;
  }
  MPI_Recv(st->rbuf, (int)msg_bytes(ne, st->e->n_metric_values), MPI_BYTE, probe->MPI_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &s);
  size_t cell;
  int cs;
  unpack(st->rbuf, ne, st->e->n_metric_values, &cell, &cs, &st->rr);
  if (st->write_status == PS_OK) {
    st->write_status = run_write_cell(st->e, st->ss, cell, cs, &st->rr, st->sum, &st->write_msg);
    if (st->write_status == PS_OK) run_progress(st->o, st->e, st->ss);
  }
}

static void poll_results(mpi_state *st) {
  for (;;) {
    int flag = 0;
    MPI_Status probe;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &probe);
    if (!flag) return;
    receive_one(st, &probe);
  }
}

/* move the shared counter past the end so that every rank stops taking cells */
static void stop_everyone(MPI_Win win) {
  long big = STOP_INDEX, old;
  MPI_Fetch_and_op(&big, &old, MPI_LONG, 0, 0, MPI_REPLACE, win);
  MPI_Win_flush(0, win);
}

int run_experiment_mpi(const experiment *e, const run_options *o, run_summary *sum, ps_msg *m) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size == 1) return run_experiment(e, o, sum, m);
  openblas_set_num_threads(1);
  memset(sum, 0, sizeof *sum);
  run_session ss;
  memset(&ss, 0, sizeof ss);
  int s = PS_OK;
  long hdr[2] = {0, 0};
  /* SIGINT, SIGTERM and SIGHUP (what mpirun and Slurm send) stop the sweep cleanly from
   * before the file opens until it is closed: a signal during the final snapshot must
   * not kill rank 0 (the journal would keep its cells, but the file would say RUNNING) */
  run_signals(1);
  if (rank == 0) {
    s = run_open(e, o, &ss, sum, m);
    hdr[0] = s;
    hdr[1] = s == PS_OK && !ss.nothing_to_do ? (long)ss.n_to_run : -1;
  }
  MPI_Bcast(hdr, 2, MPI_LONG, 0, MPI_COMM_WORLD);
  if (hdr[0] != PS_OK) {
    if (rank != 0) ps_fail(m, (int)hdr[0], "rank 0 could not open the output");
    run_signals(0);
    return (int)hdr[0];
  }
  if (hdr[1] < 0) {
    int r0 = rank == 0 ? run_close(e, o, &ss, PS_OK, NULL, sum, m) : PS_OK;
    run_signals(0);
    return r0;
  }
  size_t nt = (size_t)hdr[1];
  uint64_t *to_run = malloc((nt ? nt : 1) * sizeof *to_run);
  if (!to_run) MPI_Abort(MPI_COMM_WORLD, 3);
  if (rank == 0)
    for (size_t i = 0; i < nt; i++) to_run[i] = ss.to_run[i];
  for (size_t off = 0; off < nt; off += (size_t)1 << 28) { /* int counts: in chunks */
    size_t cnt = nt - off < ((size_t)1 << 28) ? nt - off : ((size_t)1 << 28);
    MPI_Bcast(to_run + off, (int)cnt, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  }

  mpi_state st = {.e = e, .o = o, .ss = &ss, .sum = sum, .write_status = PS_OK};
  long *counter = NULL;
  MPI_Win_allocate(rank == 0 ? (MPI_Aint)sizeof(long) : 0, sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &counter,
                   &st.win);
  if (rank == 0) *counter = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Win_lock_all(0, st.win);
  size_t ne = e->n_estimators;
  if (rank == 0) {
    st.rbuf = malloc(msg_bytes(ne, e->n_metric_values));
    if (!st.rbuf || cell_result_alloc(&st.rr, e) != PS_OK) MPI_Abort(MPI_COMM_WORLD, 3);
    run_progress(o, e, &ss);
  }
  long sent = 0, started = 0;
  int stopped = 0;
#ifdef _OPENMP
  int nthreads = o->threads > 0 ? o->threads : omp_get_max_threads();
  int provided = MPI_THREAD_SINGLE;
  MPI_Query_thread(&provided);
  if (provided < MPI_THREAD_SERIALIZED) nthreads = 1; /* the MPI library cannot take calls from threads */
#endif
#pragma omp parallel num_threads(nthreads)
  {
    cell_result r;
    /* a ring of send buffers: sends are non-blocking, so a worker never waits for
     * rank 0 to reach a receive; a buffer is reused only after its send completed */
    enum { RING = 32 };
    char *buf = malloc(RING * msg_bytes(ne, e->n_metric_values));
    MPI_Request req[RING];
    for (int q = 0; q < RING; q++) req[q] = MPI_REQUEST_NULL;
    int slot = 0;
    int ok = buf && cell_result_alloc(&r, e) == PS_OK;
    for (;;) {
      long idx = -1;
#pragma omp critical(ps_mpi)
      {
        if (!stopped && (run_stopping() || st.write_status != PS_OK ||
                         (o->stop_after >= 0 && started >= o->stop_after) || !ok)) {
          stop_everyone(st.win);
          stopped = 1;
        }
        if (!stopped) {
          long one = 1;
          MPI_Fetch_and_op(&one, &idx, MPI_LONG, 0, 0, MPI_SUM, st.win);
          MPI_Win_flush(0, st.win);
          if (idx >= 0 && (size_t)idx < nt) started++;
        }
        if (rank == 0) poll_results(&st);
      }
      if (idx < 0 || (size_t)idx >= nt) break;
      size_t cell = (size_t)to_run[idx];
      int cs = run_compute_cell(e, cell, &r);
#pragma omp critical(ps_mpi)
      {
        if (rank == 0) {
          if (st.write_status == PS_OK) {
            st.write_status = run_write_cell(e, &ss, cell, cs, &r, sum, &st.write_msg);
            if (st.write_status == PS_OK) run_progress(o, e, &ss);
          }
          poll_results(&st);
        } else {
          char *b = buf + (size_t)slot * msg_bytes(ne, e->n_metric_values);
          MPI_Wait(&req[slot], MPI_STATUS_IGNORE);
          pack(b, ne, e->n_metric_values, cell, cs, &r);
          MPI_Isend(b, (int)msg_bytes(ne, e->n_metric_values), MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD, &req[slot]);
          slot = (slot + 1) % RING;
          sent++;
        }
      }
    }
#pragma omp critical(ps_mpi)
    MPI_Waitall(RING, req, MPI_STATUSES_IGNORE);
    if (ok) cell_result_free(&r, e);
    free(buf);
  }
  if (rank != 0) {
    MPI_Send(&sent, 1, MPI_LONG, 0, TAG_DONE, MPI_COMM_WORLD);
  } else {
    while (st.done_ranks < size - 1) {
      MPI_Status probe;
      MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &probe);
      receive_one(&st, &probe);
    }
  }
  MPI_Win_unlock_all(st.win);
  MPI_Win_free(&st.win);
  free(to_run);
  int final = PS_OK;
  if (rank == 0) {
    cell_result_free(&st.rr, e);
    free(st.rbuf);
    final = run_close(e, o, &ss, st.write_status, &st.write_msg, sum, m);
  }
  MPI_Bcast(&final, 1, MPI_INT, 0, MPI_COMM_WORLD);
  run_signals(0);
  if (rank != 0 && final != PS_OK) ps_fail(m, final, "the run ended with status %s", ps_status_name(final));
  return final;
}

int run_mpi_rank(void) {
  int r = 0, init = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
#else
typedef int run_mpi_not_built; /* ISO C wants a declaration in every file */
#endif
