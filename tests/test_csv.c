/* test_csv.c — the comparison CSV reader: quoting, counts, annotators, CRLF, BOM,
 * column order, first-appearance ids, a 200,000-row file, the limits (count range,
 * line length, file size) and every error path (status, and a message naming the
 * file and the line at fault; for counts the column and the allowed range).
 *
 * Fixtures are read from $PREFSIM_TEST_DATA (default tests/data, i.e. run from
 * the repository root). */
#include <math.h>
#include <time.h>

#include "test_util.h"
#include "../cli/csv.h"

static const char *data_dir(void) {
  const char *d = getenv("PREFSIM_TEST_DATA");
  return d && *d ? d : "tests/data";
}

static int parse(const char *text, csv_comparisons *c, ps_msg *m) {
  return csv_parse_comparisons("t.csv", text, strlen(text), c, m);
}

static int32_t id_of(const csv_comparisons *c, const char *name) {
  for (size_t i = 0; i < c->data.n_items; i++)
    if (strcmp(c->item_name[i], name) == 0) return (int32_t)i;
  return -1;
}

static void assert_all_zero(const csv_comparisons *c) {
  csv_comparisons z;
  memset(&z, 0, sizeof z);
  assert_memory_equal(c, &z, sizeof z);
}

/* ------------------------------------------------------------ parsing */

static void test_minimal(void **state) {
  (void)state;
  csv_comparisons c;
  ps_msg m = {{0}};
  assert_int_equal(parse("winner,loser\nb,a\na,c\nc,b\n", &c, &m), PS_OK);
  assert_int_equal(c.data.n, 3);
  assert_int_equal(c.data.n_items, 3);
  assert_string_equal(c.item_name[0], "b");
  assert_string_equal(c.item_name[1], "a");
  assert_string_equal(c.item_name[2], "c");
  int32_t w[3] = {0, 1, 2}, l[3] = {1, 2, 0};
  assert_memory_equal(c.data.winner, w, sizeof w);
  assert_memory_equal(c.data.loser, l, sizeof l);
  assert_null(c.data.count);
  assert_null(c.data.annotator);
  assert_null(c.data.first_won);
  assert_null(c.annotator_name);
  assert_int_equal(c.data.n_annotators, 1);
  assert_int_equal(pref_data_check(&c.data, &m), PS_OK);
  csv_comparisons_free(&c);
  assert_all_zero(&c);
  csv_comparisons_free(NULL);
}

static void test_quoted_names(void **state) {
  (void)state;
  const char *text =
      "winner,loser\n"
      "\"Smith, John\",O'Brien\n"
      "\"He said \"\"hi\"\"\",  plain with spaces  \n"
      "\"Z\xc3\xbcrich \xe2\x80\x94 \xe6\x9d\xb1\xe4\xba\xac\",\"  kept  \"\n"
      "  \"quoted, padded outside\"  ,\"\"\"\"\n"
      "O'Brien,\"Smith, John\"\n";
  csv_comparisons c;
  ps_msg m;
  assert_int_equal(parse(text, &c, &m), PS_OK);
  assert_int_equal(c.data.n, 5);
  assert_int_equal(c.data.n_items, 8);
  const char *expect[8] = {"Smith, John", "O'Brien", "He said \"hi\"", "plain with spaces",
                           "Z\xc3\xbcrich \xe2\x80\x94 \xe6\x9d\xb1\xe4\xba\xac", "  kept  ",
                           "quoted, padded outside", "\""};
  for (int i = 0; i < 8; i++) assert_string_equal(c.item_name[i], expect[i]);
  assert_int_equal(c.data.winner[4], 1);
  assert_int_equal(c.data.loser[4], 0);
  csv_comparisons_free(&c);
}

static void test_counts_and_annotators(void **state) {
  (void)state;
  const char *text = "winner,loser,count,annotator\n"
                     "a,b, 2.385 ,rater 7\n"
                     "b,a,1e-3,\"rater, 2\"\n"
                     "a,c,4,rater 7\n";
  csv_comparisons c;
  ps_msg m;
  assert_int_equal(parse(text, &c, &m), PS_OK);
  assert_non_null(c.data.count);
  assert_close(c.data.count[0], 2.385, 0);
  assert_close(c.data.count[1], 1e-3, 0);
  assert_close(c.data.count[2], 4, 0);
  assert_close(pref_data_weight(&c.data), 6.386, 1e-12);
  assert_int_equal(c.data.n_annotators, 2);
  assert_string_equal(c.annotator_name[0], "rater 7");
  assert_string_equal(c.annotator_name[1], "rater, 2");
  int32_t ann[3] = {0, 1, 0};
  assert_memory_equal(c.data.annotator, ann, sizeof ann);
  assert_int_equal(pref_data_check(&c.data, &m), PS_OK);
  csv_comparisons_free(&c);
}

/* CRLF, blank (and whitespace-only) lines, BOM, no final newline. */
/* the optional `first` column: which of the two was shown first (position bias) */
static void test_first_column(void **state) {
  (void)state;
  csv_comparisons c;
  ps_msg m = {{0}};
  assert_int_equal(parse("winner,loser,first,annotator\nb,a,b,w1\na,c,c,w2\n\"x y\",a,\"x y\",w1\n", &c, &m), PS_OK);
  assert_non_null(c.data.first_won);
  assert_int_equal(c.data.first_won[0], 1);
  assert_int_equal(c.data.first_won[1], 0);
  assert_int_equal(c.data.first_won[2], 1);
  assert_int_equal(c.data.n_annotators, 2);
  csv_comparisons_free(&c);
  assert_int_equal(parse("winner,loser,first\nb,a,z\n", &c, &m), PS_EFORMAT);
  assert_non_null(strstr(m.text, "t.csv:2: first 'z' is neither the winner nor the loser"));
  assert_all_zero(&c);
}

static void test_line_ends_bom_blank(void **state) {
  (void)state;
  const char *text = "\xef\xbb\xbf\r\nwinner,loser\r\n\r\n  \r\na,b\r\n\n\tb , a \r\nc,a";
  csv_comparisons c;
  ps_msg m;
  assert_int_equal(parse(text, &c, &m), PS_OK);
  assert_int_equal(c.data.n, 3);
  assert_int_equal(c.data.n_items, 3);
  assert_string_equal(c.item_name[0], "a");
  assert_string_equal(c.item_name[1], "b");
  assert_string_equal(c.item_name[2], "c");
  assert_int_equal(c.data.winner[1], 1);
  assert_int_equal(c.data.loser[1], 0);
  csv_comparisons_free(&c);
}

/* Columns in any order, case-insensitive, extra columns ignored; ids follow the
 * order in which names appear on the line (loser before winner here). */
static void test_column_order(void **state) {
  (void)state;
  const char *text = "Count,LOSER,\"note, free text\",Winner,extra\n"
                     "2,x,\"whatever, really\",y,\n"
                     "1,y,,z,7\n"
                     "5,z,n,x,\"\"\n";
  csv_comparisons c;
  ps_msg m;
  assert_int_equal(parse(text, &c, &m), PS_OK);
  assert_int_equal(c.data.n, 3);
  assert_string_equal(c.item_name[0], "x");
  assert_string_equal(c.item_name[1], "y");
  assert_string_equal(c.item_name[2], "z");
  int32_t w[3] = {1, 2, 0}, l[3] = {0, 1, 2};
  assert_memory_equal(c.data.winner, w, sizeof w);
  assert_memory_equal(c.data.loser, l, sizeof l);
  assert_close(c.data.count[2], 5, 0);
  assert_null(c.data.annotator);
  csv_comparisons_free(&c);
}

/* tests/data/names.csv: BOM, CRLF, quoted UTF-8 names, counts, annotators. */
static void test_fixture_file(void **state) {
  (void)state;
  char path[4096];
  snprintf(path, sizeof path, "%s/names.csv", data_dir());
  csv_comparisons c;
  ps_msg m = {{0}};
  int s = csv_read_comparisons(path, &c, &m);
  if (s != PS_OK) print_error("%s\n", m.text);
  assert_int_equal(s, PS_OK);
  assert_int_equal(c.data.n, 5);
  assert_int_equal(c.data.n_items, 4);
  assert_string_equal(c.item_name[0], "Smith, John");
  assert_string_equal(c.item_name[1], "O'Brien");
  assert_string_equal(c.item_name[2], "Z\xc3\xbcrich \"Z\xc3\xbcri\" AG");
  assert_string_equal(c.item_name[3], "  padded name  ");
  assert_int_equal(c.data.n_annotators, 3);
  assert_string_equal(c.annotator_name[2], "ann3");
  assert_int_equal(c.data.winner[3], 3);
  assert_int_equal(c.data.loser[3], 2);
  assert_close(c.data.count[1], 1.5, 0);
  csv_comparisons_free(&c);
}

/* 200,000 rows, 100,000 distinct names: ids, names and speed (hash table). */
static void test_large(void **state) {
  (void)state;
  const size_t n = 200000, n_names = 100000;
  char *text = malloc(n * 40 + 64);
  size_t k = (size_t)sprintf(text, "winner,loser,count\n");
  for (size_t i = 0; i < n; i++) {
    size_t a = (i * 7919) % n_names, b = (a + 1 + i % 97) % n_names;
    k += (size_t)sprintf(text + k, "\"item %zu\",item %zu,%zu\n", a, b, 1 + i % 3);
  }
  csv_comparisons c;
  ps_msg m;
  clock_t t0 = clock();
  assert_int_equal(csv_parse_comparisons("big.csv", text, k, &c, &m), PS_OK);
  double sec = (double)(clock() - t0) / CLOCKS_PER_SEC;
  assert_int_equal(c.data.n, n);
  assert_int_equal(c.data.n_items, n_names);
  assert_true(sec < 2.0); /* ~0.05 s expected; a quadratic lookup would take minutes */
  for (size_t i = 0; i < n; i += 9973) {
    size_t a = (i * 7919) % n_names, b = (a + 1 + i % 97) % n_names;
    char na[32], nb[32];
    snprintf(na, sizeof na, "item %zu", a);
    snprintf(nb, sizeof nb, "item %zu", b);
    assert_string_equal(c.item_name[c.data.winner[i]], na);
    assert_string_equal(c.item_name[c.data.loser[i]], nb);
    assert_close(c.data.count[i], (double)(1 + i % 3), 0);
  }
  assert_int_equal(id_of(&c, "item 0"), 0);
  assert_int_equal(pref_data_check(&c.data, &m), PS_OK);
  csv_comparisons_free(&c);
  free(text);
}

/* Counts at the floor and the ceiling, and every plain decimal form, are accepted. */
static void test_count_forms(void **state) {
  (void)state;
  static const struct {
    const char *text;
    double value;
  } ok[] = {{"1e-6", 1e-6},  {"0.000001", 1e-6}, {"1e12", 1e12}, {"1000000000000", 1e12}, {"+2", 2},
            {".5", 0.5},     {"5.", 5},          {"1.5E3", 1500}, {"\"7\"", 7},             {"2.5e+1", 25},
            {"25e-1", 2.5}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char text[128];
    snprintf(text, sizeof text, "winner,loser,count\na,b,%s\n", ok[i].text);
    csv_comparisons c;
    ps_msg m = {{0}};
    int s = parse(text, &c, &m);
    if (s != PS_OK) print_error("count %s: %s\n", ok[i].text, m.text);
    assert_int_equal(s, PS_OK);
    assert_close(c.data.count[0], ok[i].value, 0);
    csv_comparisons_free(&c);
  }
}

/* A line of exactly CSV_MAX_LINE_BYTES bytes is read; one byte more is refused with
 * the limit and the line, with or without a line end after it; a CR-only file longer
 * than the limit gets the CR message; a lone CR at the very end is a line end. */
static void test_line_limit(void **state) {
  (void)state;
  const size_t L = CSV_MAX_LINE_BYTES;
  char *text = malloc(L + 64);
  assert_non_null(text);
  csv_comparisons c;
  ps_msg m = {{0}};
  for (int extra = 0; extra <= 1; extra++)
    for (int final_nl = 0; final_nl <= 1; final_nl++) {
      size_t k = (size_t)sprintf(text, "winner,loser\nb,a\n");
      size_t name = L + (size_t)extra - 2; /* the row "NAME,b" is L + extra bytes */
      memset(text + k, 'x', name);
      k += name;
      k += (size_t)sprintf(text + k, ",b%s", final_nl ? "\r\n" : "");
      int s = csv_parse_comparisons("t.csv", text, k, &c, &m);
      if (!extra) {
        if (s != PS_OK) print_error("%s\n", m.text);
        assert_int_equal(s, PS_OK);
        assert_int_equal(strlen(c.item_name[2]), name);
        csv_comparisons_free(&c);
      } else {
        assert_int_equal(s, PS_EFORMAT);
        assert_non_null(strstr(m.text, "t.csv:3: the line is longer than the limit of 1048576 bytes (1 MiB) per line"));
        assert_all_zero(&c);
      }
    }
  /* old Mac line ends on a file longer than the limit */
  size_t k = 0;
  k += (size_t)sprintf(text, "winner,loser\r");
  while (k < L + 16) k += (size_t)sprintf(text + k, "a,b\r");
  assert_int_equal(csv_parse_comparisons("t.csv", text, k, &c, &m), PS_EFORMAT);
  assert_non_null(strstr(m.text, "t.csv:1: a carriage return"));
  assert_non_null(strstr(m.text, "CR-only"));
  free(text);
  assert_int_equal(parse("winner,loser\na,b\r", &c, &m), PS_OK);
  assert_int_equal(c.data.n, 1);
  csv_comparisons_free(&c);
}

/* The file-size limit: refused from the file's size (before reading), naming the
 * file, its size, the limit and the caller's hint; a file of exactly the limit is read. */
static void test_file_size_limit(void **state) {
  (void)state;
  char *dir = test_tmpdir();
  assert_non_null(dir);
  char path[4200];
  snprintf(path, sizeof path, "%s/small.csv", dir);
  const char text[] = "winner,loser\na,b\nb,a\n"; /* 21 bytes */
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  csv_comparisons c;
  ps_msg m = {{0}};
  csv_limits lim = {.max_file_bytes = 20, .size_hint = "raise it with --max-input-size"};
  assert_int_equal(csv_read_comparisons_limited(path, &lim, &c, &m), PS_EFORMAT);
  char expect[4400];
  snprintf(expect, sizeof expect,
           "%s: the file is 21 bytes, above the limit of 20 bytes for an input file; raise it with --max-input-size", path);
  assert_string_equal(m.text, expect);
  assert_all_zero(&c);
  lim.max_file_bytes = 21;
  assert_int_equal(csv_read_comparisons_limited(path, &lim, &c, &m), PS_OK);
  assert_int_equal(c.data.n, 2);
  csv_comparisons_free(&c);
  remove(path);
  rmdir(dir);
  free(dir);
}

/* ---------------------------------------------------------- error paths */

typedef struct {
  const char *text;
  const char *where;  /* "t.csv:LINE:" or "t.csv:" */
  const char *what;   /* a phrase the message must contain */
  const char *what2;  /* and another, or NULL */
} bad_case;

static const bad_case bad_cases[] = {
    {"", "t.csv:", "empty", "winner,loser"},
    {"\n  \r\n\n", "t.csv:", "empty", NULL},
    {"\xef\xbb\xbf", "t.csv:", "empty", NULL},
    {"winner,looser,count\na,b,1\n", "t.csv:1:", "no 'loser' column", "'winner', 'looser', 'count'"},
    {"\n\nfrom,to\na,b\n", "t.csv:3:", "no 'winner' column", "2 columns: 'from', 'to'"},
    {"winner,loser,winner\na,b,c\n", "t.csv:1:", "column 'winner' twice", NULL},
    {"winner,loser\n", "t.csv:1:", "not followed by any data rows", NULL},
    {"winner,loser\r\n\r\n  \r\n", "t.csv:1:", "not followed by any data rows", NULL},
    {"winner,loser\na,b\n\nx, x \n", "t.csv:4:", "same item 'x'", NULL},
    {"winner,loser\n\"x\",x\n", "t.csv:2:", "same item 'x'", NULL},
    {"winner,loser,count\na,b,1\nb,a,abc\n", "t.csv:3:", "count 'abc' (column 3) is not a plain decimal number",
     "allowed: a plain decimal number"},
    {"winner,loser,count\na,b,2x\n", "t.csv:2:", "count '2x' (column 3) is not a plain decimal number", NULL},
    {"winner,loser,count\na,b,0\n", "t.csv:2:", "count '0' (column 3) is not positive", "in [1e-06, 1e+12]"},
    {"winner,loser,count\na,b,-1.5\n", "t.csv:2:", "count '-1.5' (column 3) is not positive", NULL},
    {"winner,loser,count\na,b,inf\n", "t.csv:2:", "count 'inf' (column 3) is not finite", "in [1e-06, 1e+12]"},
    {"winner,loser,count\na,b,-Infinity\n", "t.csv:2:", "is not finite", NULL},
    {"winner,loser,count\na,b,nan\n", "t.csv:2:", "count 'nan' (column 3) is not a number (nan)", NULL},
    {"winner,loser,count\na,b,NAN(1)\n", "t.csv:2:", "is not a number (nan)", NULL},
    {"winner,loser,count\na,b,1e999\n", "t.csv:2:", "is above the ceiling (it overflows a double)", "1e+12]"},
    {"winner,loser,count\na,b,1e308\n", "t.csv:2:", "count '1e308' (column 3) is above the ceiling", "1e+12]"},
    {"winner,loser,count\na,b,1e26\n", "t.csv:2:", "is above the ceiling", "swamp"},
    {"winner,loser,count\na,b,1000000000001\n", "t.csv:2:", "is above the ceiling", NULL},
    {"winner,loser,count\na,b,1e-7\n", "t.csv:2:", "count '1e-7' (column 3) is below the floor", "[1e-06, 1e+12]"},
    {"winner,loser,count\na,b,4.9e-324\n", "t.csv:2:", "below the floor (a subnormal number)", NULL},
    {"winner,loser,count\na,b,1e-310\n", "t.csv:2:", "below the floor (a subnormal number)", NULL},
    {"winner,loser,count\na,b,0x10\n", "t.csv:2:", "count '0x10' (column 3) is hexadecimal", "plain decimal"},
    {"winner,loser,count\na,b,0x1p3\n", "t.csv:2:", "is hexadecimal", NULL},
    {"loser,count,winner\na,0X1A,b\n", "t.csv:2:", "count '0X1A' (column 2) is hexadecimal", NULL},
    {"winner,loser,count\na,b,1e\n", "t.csv:2:", "is not a plain decimal number", NULL},
    {"winner,loser,count\na,b,e5\n", "t.csv:2:", "is not a plain decimal number", NULL},
    {"winner,loser,count\na,b,.\n", "t.csv:2:", "is not a plain decimal number", NULL},
    {"winner,loser,count\na,b,1 2\n", "t.csv:2:", "is not a plain decimal number", NULL},
    {"winner,loser,count\na,b,\n", "t.csv:2:", "count '' (column 3) is empty", "allowed"},
    {"winner,loser\ra,b\rb,a\r", "t.csv:1:", "carriage return", "CR-only"},
    {"winner,loser\r\na\r,b\r\n", "t.csv:2:", "carriage return (\\r) not followed by a line feed", NULL},
    {"winner,loser\na,\"b\rc\"\n", "t.csv:2:", "carriage return", NULL},
    {"winner,loser\na,b\r\r\n", "t.csv:2:", "carriage return", NULL},
    {"winner,loser\na,b\nb,a,c\n", "t.csv:3:", "3 fields, but the header (line 1) has 2", "quoted"},
    {"winner,loser,count\na,b\n", "t.csv:2:", "2 fields, but the header (line 1) has 3", NULL},
    {"winner,loser\na,b\n\"b,a\n", "t.csv:3:", "unterminated quoted field", NULL},
    {"winner,loser\na,\"b\r\nc\"\n", "t.csv:2:", "unterminated quoted field", NULL},
    {"\"winner,loser\na,b\n", "t.csv:1:", "unterminated quoted field", NULL},
    {"winner,loser\n\"a\"x,b\n", "t.csv:2:", "unexpected 'x' after the closing quote", NULL},
    {"winner,loser\n,b\n", "t.csv:2:", "empty winner name", NULL},
    {"winner,loser\na,\"\"\n", "t.csv:2:", "empty loser name", NULL},
    {"winner,loser,annotator\na,b,\n", "t.csv:2:", "empty annotator", NULL},
};

static void test_bad_inputs(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *b = &bad_cases[i];
    csv_comparisons c;
    memset(&c, 0x5a, sizeof c);
    ps_msg m = {{0}};
    int s = parse(b->text, &c, &m);
    int ok = s == PS_EFORMAT && strncmp(m.text, b->where, strlen(b->where)) == 0 &&
             strstr(m.text, b->what) && (!b->what2 || strstr(m.text, b->what2));
    if (!ok) {
      print_error("case %zu: status %d (%s), message \"%s\"; expected %s ... \"%s\"\n", i, s,
                  ps_status_name(s), m.text, b->where, b->what);
      fail();
    }
    assert_all_zero(&c);
    csv_comparisons_free(&c); /* harmless on the zeroed struct */
  }
}

static void test_nul_byte(void **state) {
  (void)state;
  const char text[] = "winner,loser\na,b\nb\0x,a\n";
  csv_comparisons c;
  ps_msg m;
  assert_int_equal(csv_parse_comparisons("t.csv", text, sizeof text - 1, &c, &m), PS_EFORMAT);
  assert_non_null(strstr(m.text, "t.csv:3: NUL byte"));
}

/* The fixtures the shell test also uses: file-level errors name the path. */
static void test_fixture_errors(void **state) {
  (void)state;
  static const struct {
    const char *file;
    int status;
    const char *what;
  } cases[] = {
      {"empty.csv", PS_EFORMAT, ": the file is empty"},
      {"missing_column.csv", PS_EFORMAT, ":1: the header has no 'loser' column"},
      {"header_only.csv", PS_EFORMAT, ":1: the header is not followed by any data rows"},
      {"one_item.csv", PS_EFORMAT, ":2: winner and loser are the same item 'a'"},
      {"bad_count.csv", PS_EFORMAT, ":3: count 'three' (column 3) is not a plain decimal number"},
      {"zero_count.csv", PS_EFORMAT, ":3: count '0' (column 3) is not positive"},
      {"wrong_fields.csv", PS_EFORMAT, ":3: 3 fields"},
      {"unterminated.csv", PS_EFORMAT, ":3: unterminated quoted field"},
      {"no_such_file.csv", PS_EIO, ": cannot open: No such file or directory"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char path[4096], expect[4200];
    snprintf(path, sizeof path, "%s/%s", data_dir(), cases[i].file);
    snprintf(expect, sizeof expect, "%s%s", path, cases[i].what);
    csv_comparisons c;
    ps_msg m = {{0}};
    int s = csv_read_comparisons(path, &c, &m);
    if (s != cases[i].status || strncmp(m.text, expect, strlen(expect)) != 0) {
      print_error("%s: status %s, message \"%s\"; expected %s, \"%s\"\n", cases[i].file,
                  ps_status_name(s), m.text, ps_status_name(cases[i].status), expect);
      fail();
    }
    assert_all_zero(&c);
  }
}

static void test_directory_is_io_error(void **state) {
  (void)state;
  char *dir = test_tmpdir();
  assert_non_null(dir);
  csv_comparisons c;
  ps_msg m = {{0}};
  assert_int_equal(csv_read_comparisons(dir, &c, &m), PS_EIO);
  assert_non_null(strstr(m.text, dir));
  assert_all_zero(&c);
  rmdir(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_minimal),
      cmocka_unit_test(test_quoted_names),
      cmocka_unit_test(test_counts_and_annotators),
      cmocka_unit_test(test_first_column),
      cmocka_unit_test(test_line_ends_bom_blank),
      cmocka_unit_test(test_column_order),
      cmocka_unit_test(test_fixture_file),
      cmocka_unit_test(test_large),
      cmocka_unit_test(test_count_forms),
      cmocka_unit_test(test_line_limit),
      cmocka_unit_test(test_file_size_limit),
      cmocka_unit_test(test_bad_inputs),
      cmocka_unit_test(test_nul_byte),
      cmocka_unit_test(test_fixture_errors),
      cmocka_unit_test(test_directory_is_io_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
