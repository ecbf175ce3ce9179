/* test_canon_derive.c - the update and envelope schemas derived from a canonical schema
 * (registry/canon_derive.c), checked against docs/wire.md.
 *
 * The expected schemas below are written by hand from docs/wire.md, not copied from the
 * output: single quotes stand for double quotes to keep them readable, and both sides
 * are compared after a compact re-serialisation that keeps member order, so the test
 * checks the exact bytes (member order included) but not the layout of this file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_data.h"

#include "registry/canon_derive.h"
#include "registry/compat.h"

/* ---- helpers ---------------------------------------------------------------------- */

/* The example schemas of the repository (schemas/), next to tests/unit/data. */
static char *read_example(const char *name)
{
    return test_data_example(name);
}

/* Replaces ' by " (the expected texts below contain no apostrophes). Caller frees. */
static char *dq(const char *s)
{
    char *t = strdup(s);
    assert_non_null(t);
    for (char *p = t; *p; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return t;
}

static reg_schema *parse(const char *text_sq)
{
    char *text = dq(text_sq);
    reg_schema *s = NULL;
    cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, &s);
    if (err)
        fail_msg("parse failed: %s\n%s", cg_err_msg(err), text);
    free(text);
    return s;
}

/* Compact form of JSON text with member order kept. Caller frees. */
static char *compact(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        fail_msg("expected text is not JSON (line %d: %s):\n%s", je.line, je.text, text);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(s);
    return s;
}

typedef cg_err *(*derive_fn)(const reg_schema *, char **);

static char *derive_ok(derive_fn fn, const reg_schema *s)
{
    char *out = NULL;
    cg_err *err = fn(s, &out);
    if (err)
        fail_msg("derive failed: %s", cg_err_msg(err));
    assert_non_null(out);
    /* The result is a schema the registry parses. */
    reg_schema *back = NULL;
    err = reg_schema_parse(out, strlen(out), NULL, 0, &back);
    if (err)
        fail_msg("derived schema does not parse: %s\n%s", cg_err_msg(err), out);
    reg_schema_free(back);
    /* Deterministic: a second run gives the same bytes. */
    char *again = NULL;
    err = fn(s, &again);
    assert_null(err);
    assert_string_equal(out, again);
    free(again);
    return out;
}

/* Asserts fn(s) gives exactly expected_sq (single-quoted JSON). */
static void expect_derived(derive_fn fn, const reg_schema *s, const char *expected_sq)
{
    char *out = derive_ok(fn, s);
    char *exp_text = dq(expected_sq);
    char *exp = compact(exp_text);
    if (strcmp(out, exp) != 0) {
        size_t i = 0;
        while (out[i] && out[i] == exp[i])
            i++;
        fail_msg("derived schema differs at byte %zu\n got: %s\nwant: %s", i, out + i, exp + i);
    }
    free(exp);
    free(exp_text);
    free(out);
}

static void expect_refused(derive_fn fn, const char *schema_sq, const char *needle)
{
    reg_schema *s = parse(schema_sq);
    char *out = NULL;
    cg_err *err = fn(s, &out);
    if (!err)
        fail_msg("derive accepted, expected \"%s\": %s", needle, out);
    assert_int_equal(cg_err_code(err), CG_EINVALID_SCHEMA);
    if (!strstr(cg_err_msg(err), needle))
        fail_msg("message \"%s\" lacks \"%s\"", cg_err_msg(err), needle);
    assert_null(out);
    cg_err_free(err);
    reg_schema_free(s);
}

/* Fixed parts of docs/wire.md, as they appear in every derived schema. */
#define UPDATE_HEAD(key_field)                                                                     \
    key_field ",{'name':'source','type':'string'},"                                                \
              "{'name':'event_time','type':{'type':'long','logicalType':'timestamp-millis'}},"     \
              "{'name':'seq','type':'long','default':0},"                                          \
              "{'name':'op','type':{'type':'enum','name':'UpdateOp','namespace':'canongate',"      \
              "'symbols':['UPSERT','DELETE']},'default':'UPSERT'},"                                \
              "{'name':'provided','type':{'type':'array','items':'string'},'default':[]},"

#define ENVELOPE_TAIL                                                                              \
    "{'name':'changed','type':{'type':'array','items':'string'},'default':[]},"                    \
    "{'name':'provenance','type':{'type':'map','values':{'type':'record','name':'FieldVersion',"   \
    "'namespace':'canongate','fields':[{'name':'source','type':'string'},"                         \
    "{'name':'event_time','type':{'type':'long','logicalType':'timestamp-millis'}},"               \
    "{'name':'seq','type':'long'},{'name':'partition','type':'int','default':-1},"                 \
    "{'name':'offset','type':'long','default':-1}]}},'default':{}},"                               \
    "{'name':'deleted','type':['null','canongate.FieldVersion'],'default':null},"                  \
    "{'name':'cause','type':{'type':'record','name':'Cause','namespace':'canongate','fields':["    \
    "{'name':'topic','type':'string'},{'name':'partition','type':'int'},"                          \
    "{'name':'offset','type':'long'}]}}"

#define CHANGE_OP                                                                                  \
    "{'name':'op','type':{'type':'enum','name':'ChangeOp','namespace':'canongate',"                \
    "'symbols':['CREATE','UPDATE','DELETE']}},"

/* ---- the example schemas ---------------------------------------------------------- */

static void test_person_update(void **state)
{
    (void)state;
    char *text = read_example("person.avsc");
    reg_schema *s = NULL;
    assert_null(reg_schema_parse(text, strlen(text), NULL, 0, &s));
    expect_derived(
        reg_canon_derive_update, s,
        "{'type':'record','name':'PersonUpdate','namespace':'org.canongate.canon','fields':"
        "[" UPDATE_HEAD(
            "{'name':'person_id','type':{'type':'string','logicalType':'uuid'},"
            "'doc':'Universal identifier of the person.'}") "{'name':'values','type':{'type':'"
                                                            "record','name':'PersonValues',"
                                                            " 'namespace':'org.canongate.canon','"
                                                            "fields':["
                                                            "  "
                                                            "{'name':'given_name','type':['null','"
                                                            "string'],'default':null,"
                                                            "   'canon.writers':['hr','crm']},"
                                                            "  "
                                                            "{'name':'family_name','type':['null','"
                                                            "string'],'default':null,"
                                                            "   'canon.writers':['hr','crm']},"
                                                            "  "
                                                            "{'name':'email','type':['null','"
                                                            "string'],'default':null},"
                                                            "  "
                                                            "{'name':'phone','type':['null','"
                                                            "string'],'default':null,"
                                                            "   'canon.writers':['crm','support']},"
                                                            "  "
                                                            "{'name':'birth_date','type':['null',{'"
                                                            "type':'int','logicalType':'date'}],"
                                                            "   "
                                                            "'default':null,'canon.writers':['hr']}"
                                                            ","
                                                            "  "
                                                            "{'name':'employment_status','type':['"
                                                            "null',"
                                                            "    "
                                                            "{'name':'org.canongate.canon."
                                                            "EmploymentStatus','type':'enum',"
                                                            "     "
                                                            "'symbols':['UNKNOWN','ACTIVE','ON_"
                                                            "LEAVE','TERMINATED'],'default':'"
                                                            "UNKNOWN'}],"
                                                            "   "
                                                            "'default':null,'canon.writers':['hr']}"
                                                            ","
                                                            "  {'name':'address','type':['null',"
                                                            "    "
                                                            "{'name':'org.canongate.canon."
                                                            "PostalAddress','type':'record','"
                                                            "fields':["
                                                            "      "
                                                            "{'name':'street','type':['null','"
                                                            "string'],'default':null},"
                                                            "      "
                                                            "{'name':'city','type':['null','string'"
                                                            "],'default':null},"
                                                            "      "
                                                            "{'name':'postal_code','type':['null','"
                                                            "string'],'default':null},"
                                                            "      "
                                                            "{'name':'country','type':['null','"
                                                            "string'],'default':null,"
                                                            "       'doc':'ISO 3166-1 alpha-2'}]}],"
                                                            "   'default':null},"
                                                            /* A non-null canonical default is not
                                                               copied: every values field defaults
                                                               to null. */
                                                            "  "
                                                            "{'name':'tags','type':['null',{'type':"
                                                            "'array','items':'string'}],'default':"
                                                            "null},"
                                                            "  "
                                                            "{'name':'support_tier','type':['null',"
                                                            "'string'],'default':null,"
                                                            "   'canon.writers':['support']}"
                                                            "]}}]}");
    reg_schema_free(s);
    free(text);
}

static void test_person_envelope(void **state)
{
    (void)state;
    char *text = read_example("person.avsc");
    reg_schema *s = NULL;
    assert_null(reg_schema_parse(text, strlen(text), NULL, 0, &s));
    expect_derived(
        reg_canon_derive_envelope, s,
        "{'type':'record','name':'PersonEnvelope','namespace':'org.canongate.canon','fields':["
        "{'name':'key','type':{'type':'string','logicalType':'uuid'}},"
        "{'name':'version','type':'long'}," CHANGE_OP "{'name':'before','type':['null',"
        " {'name':'org.canongate.canon.Person','type':'record',"
        "  'doc':'A person known to several domains (HR, CRM, Support). Canonical: only data "
        "points every domain shares.',"
        "  'fields':["
        "   {'name':'person_id','type':{'type':'string','logicalType':'uuid'},"
        "    'doc':'Universal identifier of the person.'},"
        "   {'name':'given_name','type':['null','string'],'default':null,"
        "    'canon.writers':['hr','crm']},"
        "   {'name':'family_name','type':['null','string'],'default':null,"
        "    'canon.writers':['hr','crm']},"
        "   {'name':'email','type':['null','string'],'default':null},"
        "   {'name':'phone','type':['null','string'],'default':null,"
        "    'canon.writers':['crm','support']},"
        "   {'name':'birth_date','type':['null',{'type':'int','logicalType':'date'}],"
        "    'default':null,'canon.writers':['hr']},"
        "   {'name':'employment_status','type':['null',"
        "     {'name':'org.canongate.canon.EmploymentStatus','type':'enum',"
        "      'symbols':['UNKNOWN','ACTIVE','ON_LEAVE','TERMINATED'],'default':'UNKNOWN'}],"
        "    'default':null,'canon.writers':['hr']},"
        "   {'name':'address','type':['null',"
        "     {'name':'org.canongate.canon.PostalAddress','type':'record','fields':["
        "       {'name':'street','type':['null','string'],'default':null},"
        "       {'name':'city','type':['null','string'],'default':null},"
        "       {'name':'postal_code','type':['null','string'],'default':null},"
        "       {'name':'country','type':['null','string'],'default':null,"
        "        'doc':'ISO 3166-1 alpha-2'}]}],"
        "    'default':null},"
        "   {'name':'tags','type':{'type':'array','items':'string'},'default':[]},"
        "   {'name':'support_tier','type':['null','string'],'default':null,"
        "    'canon.writers':['support']}],"
        "  'canon.key':'person_id'}],"
        " 'default':null},"
        "{'name':'after','type':['null','org.canongate.canon.Person'],'default':null}"
        "," ENVELOPE_TAIL "]}");
    reg_schema_free(s);
    free(text);
}

static void test_account_update_and_envelope(void **state)
{
    (void)state;
    char *text = read_example("account.avsc");
    reg_schema *s = NULL;
    assert_null(reg_schema_parse(text, strlen(text), NULL, 0, &s));
    expect_derived(reg_canon_derive_update, s,
                   "{'type':'record','name':'AccountUpdate','namespace':'org.canongate.canon','"
                   "fields':[" UPDATE_HEAD("{'name':'account_id','type':'string',"
                                           "'doc':'Universal identifier: the account number "
                                           "printed on invoices.'}") "{'name':'values','type':{'"
                                                                     "type':'record','name':'"
                                                                     "AccountValues',"
                                                                     " 'namespace':'org.canongate."
                                                                     "canon','fields':["
                                                                     "  "
                                                                     "{'name':'display_name','type'"
                                                                     ":['null','string'],'default':"
                                                                     "null,"
                                                                     "   'canon.writers':['crm']},"
                                                                     "  "
                                                                     "{'name':'owner_person_id','"
                                                                     "type':['null',{'type':'"
                                                                     "string','logicalType':'uuid'}"
                                                                     "],"
                                                                     "   "
                                                                     "'default':null,'canon."
                                                                     "writers':['crm']},"
                                                                     /* Not a union in the canonical
                                                                        schema: optional() makes it
                                                                        one. */
                                                                     "  "
                                                                     "{'name':'status','type':['"
                                                                     "null',"
                                                                     "    "
                                                                     "{'name':'org.canongate.canon."
                                                                     "AccountStatus','type':'enum',"
                                                                     "     "
                                                                     "'symbols':['UNKNOWN','OPEN','"
                                                                     "SUSPENDED','CLOSED'],'"
                                                                     "default':'UNKNOWN'}],"
                                                                     "   'default':null},"
                                                                     "  "
                                                                     "{'name':'credit_limit','type'"
                                                                     ":['null',"
                                                                     "    "
                                                                     "{'type':'bytes','logicalType'"
                                                                     ":'decimal','precision':12,'"
                                                                     "scale':2}],"
                                                                     "   "
                                                                     "'default':null,'canon."
                                                                     "writers':['billing']},"
                                                                     "  "
                                                                     "{'name':'opened_at','type':['"
                                                                     "null',{'type':'long','"
                                                                     "logicalType':'timestamp-"
                                                                     "millis'}],"
                                                                     "   'default':null}"
                                                                     "]}}]}");
    expect_derived(
        reg_canon_derive_envelope, s,
        "{'type':'record','name':'AccountEnvelope','namespace':'org.canongate.canon','fields':["
        "{'name':'key','type':'string'},"
        "{'name':'version','type':'long'}," CHANGE_OP "{'name':'before','type':['null',"
        " {'name':'org.canongate.canon.Account','type':'record',"
        "  'doc':'A customer account, shared by CRM (owner of the relationship) and Billing.',"
        "  'fields':["
        "   {'name':'account_id','type':'string',"
        "    'doc':'Universal identifier: the account number printed on invoices.'},"
        "   {'name':'display_name','type':['null','string'],'default':null,"
        "    'canon.writers':['crm']},"
        "   {'name':'owner_person_id','type':['null',{'type':'string','logicalType':'uuid'}],"
        "    'default':null,'canon.writers':['crm']},"
        "   {'name':'status','type':"
        "     {'name':'org.canongate.canon.AccountStatus','type':'enum',"
        "      'symbols':['UNKNOWN','OPEN','SUSPENDED','CLOSED'],'default':'UNKNOWN'},"
        "    'default':'UNKNOWN'},"
        "   {'name':'credit_limit','type':['null',"
        "     {'type':'bytes','logicalType':'decimal','precision':12,'scale':2}],"
        "    'default':null,'canon.writers':['billing']},"
        "   {'name':'opened_at','type':['null',{'type':'long','logicalType':'timestamp-millis'}],"
        "    'default':null}],"
        "  'canon.key':'account_id'}],"
        " 'default':null},"
        "{'name':'after','type':['null','org.canongate.canon.Account'],'default':null}"
        "," ENVELOPE_TAIL "]}");
    reg_schema_free(s);
    free(text);
}

/* ---- named, recursive and union types --------------------------------------------- */

/* A record that refers to itself directly and through another recursive record. In the
 * update schema the canonical record is not defined by the update record itself, so it
 * is defined in full at its first use (values.parent) and named after. */
static const char *recursive_schema =
    "{'type':'record','name':'Node','namespace':'t','canon.key':'id','fields':["
    " {'name':'id','type':'string'},"
    " {'name':'parent','type':['null','Node'],'default':null},"
    " {'name':'children','type':{'type':'array','items':'Node'},'default':[]},"
    " {'name':'link','type':['null',{'type':'record','name':'Link','fields':["
    "   {'name':'next','type':['null','Link'],'default':null},"
    "   {'name':'owner','type':['null','Node'],'default':null}]}],'default':null},"
    " {'name':'other','type':['null','Link'],'default':null}]}";

static void test_recursive_types(void **state)
{
    (void)state;
    reg_schema *s = parse(recursive_schema);
#define NODE_DEF                                                                                   \
    "{'name':'t.Node','type':'record','fields':["                                                  \
    " {'name':'id','type':'string'},"                                                              \
    " {'name':'parent','type':['null','t.Node'],'default':null},"                                  \
    " {'name':'children','type':{'type':'array','items':'t.Node'},'default':[]},"                  \
    " {'name':'link','type':['null',{'name':'t.Link','type':'record','fields':["                   \
    "   {'name':'next','type':['null','t.Link'],'default':null},"                                  \
    "   {'name':'owner','type':['null','t.Node'],'default':null}]}],'default':null},"              \
    " {'name':'other','type':['null','t.Link'],'default':null}],"                                  \
    " 'canon.key':'id'}"
    expect_derived(reg_canon_derive_update, s,
                   "{'type':'record','name':'NodeUpdate','namespace':'t','fields':[" UPDATE_HEAD(
                       "{'name':'id','type':'string'}") "{'name':'values','type':{'type':'record',"
                                                        "'name':'NodeValues','namespace':'t',"
                                                        "'fields':["
                                                        " {'name':'parent','type':['null'," NODE_DEF
                                                        "],'default':null},"
                                                        " {'name':'children','type':['null',"
                                                        "  {'type':'array','items':'t.Node'}],"
                                                        "  'default':null},"
                                                        " {'name':'link','type':['null','t.Link'],"
                                                        "  'default':null},"
                                                        " {'name':'other','type':['null','t.Link'],"
                                                        "  'default':null}"
                                                        "]}}]}");
    expect_derived(reg_canon_derive_envelope, s,
                   "{'type':'record','name':'NodeEnvelope','namespace':'t','fields':["
                   "{'name':'key','type':'string'},"
                   "{'name':'version','type':'long'}," CHANGE_OP
                   "{'name':'before','type':['null'," NODE_DEF "],'default':null},"
                   "{'name':'after','type':['null','t.Node'],'default':null}," ENVELOPE_TAIL "]}");
#undef NODE_DEF
    reg_schema_free(s);
}

/* Unions in every position: nullable with null first or last, without null, inside an
 * array, as map values, with named branches defined in one field and used in another;
 * and field aliases and docs, which are copied. */
static void test_unions_everywhere(void **state)
{
    (void)state;
    reg_schema *s =
        parse("{'type':'record','name':'U','namespace':'t','canon.key':'id','fields':["
              " {'name':'id','type':'string','aliases':['uid'],'doc':'the key'},"
              " {'name':'a','type':['string','null'],'default':'x','aliases':['a1','a0'],"
              "  'doc':'null last'},"
              " {'name':'b','type':['null','int','string'],'default':null},"
              " {'name':'c','type':['int',{'type':'enum','name':'E','symbols':['X','Y']}],"
              "  'default':1},"
              " {'name':'d','type':{'type':'array','items':['null','string']},'default':[]},"
              " {'name':'e','type':{'type':'map','values':['null',{'type':'record','name':'R',"
              "   'fields':[{'name':'r','type':['null','E'],'default':null}]}]},'default':{}},"
              " {'name':'f','type':['null','R','E'],'default':null},"
              " {'name':'g','type':'E','default':'Y','canon.writers':['hr']},"
              " {'name':'h','type':['null',{'type':'fixed','name':'F','size':2}],'default':null},"
              " {'name':'i','type':['F','null'],'default':'ab'}]}");
    expect_derived(
        reg_canon_derive_update, s,
        "{'type':'record','name':'UUpdate','namespace':'t','fields':[" UPDATE_HEAD(
            "{'name':'id','type':'string','aliases':['uid'],'doc':'the key'}") "{'name':'values','"
                                                                               "type':{'type':'"
                                                                               "record','name':'"
                                                                               "UValues','"
                                                                               "namespace':'t','"
                                                                               "fields':["
                                                                               " {'name':'a','type'"
                                                                               ":['null','string'],"
                                                                               "'default':null,'"
                                                                               "aliases':['a1','a0'"
                                                                               "],"
                                                                               "  'doc':'null "
                                                                               "last'},"
                                                                               " {'name':'b','type'"
                                                                               ":['null','int','"
                                                                               "string'],'default':"
                                                                               "null},"
                                                                               " {'name':'c','type'"
                                                                               ":['null','int',{'"
                                                                               "name':'t.E','type':"
                                                                               "'enum','symbols':['"
                                                                               "X','Y']}],"
                                                                               "  'default':null},"
                                                                               " {'name':'d','type'"
                                                                               ":['null',{'type':'"
                                                                               "array','items':['"
                                                                               "null','string']}],"
                                                                               "  'default':null},"
                                                                               " {'name':'e','type'"
                                                                               ":['null',{'type':'"
                                                                               "map','values':['"
                                                                               "null',{'name':'t.R'"
                                                                               ","
                                                                               "   "
                                                                               "'type':'record','"
                                                                               "fields':[{'name':'"
                                                                               "r','type':['null','"
                                                                               "t.E'],'default':"
                                                                               "null}]}]}],"
                                                                               "  'default':null},"
                                                                               " {'name':'f','type'"
                                                                               ":['null','t.R','t."
                                                                               "E'],'default':null}"
                                                                               ","
                                                                               " {'name':'g','type'"
                                                                               ":['null','t.E'],'"
                                                                               "default':null,'"
                                                                               "canon.writers':['"
                                                                               "hr']},"
                                                                               " {'name':'h','type'"
                                                                               ":['null',{'name':'"
                                                                               "t.F','type':'fixed'"
                                                                               ",'size':2}],'"
                                                                               "default':null},"
                                                                               " {'name':'i','type'"
                                                                               ":['null','t.F'],'"
                                                                               "default':null}"
                                                                               "]}}]}");
    reg_schema_free(s);
}

/* A canonical record without a namespace gives derived records without one. */
static void test_null_namespace(void **state)
{
    (void)state;
    reg_schema *s = parse("{'type':'record','name':'Thing','canon.key':'k','fields':["
                          " {'name':'k','type':'string'},"
                          " {'name':'n','type':'long','default':0}]}");
    expect_derived(reg_canon_derive_update, s,
                   "{'type':'record','name':'ThingUpdate','fields':[" UPDATE_HEAD(
                       "{'name':'k','type':'string'}") "{'name':'values','type':{'type':'record',"
                                                       "'name':'ThingValues','fields':["
                                                       " {'name':'n','type':['null','long'],"
                                                       "  'default':null}]}}]}");
    expect_derived(reg_canon_derive_envelope, s,
                   "{'type':'record','name':'ThingEnvelope','fields':["
                   "{'name':'key','type':'string'},"
                   "{'name':'version','type':'long'}," CHANGE_OP
                   "{'name':'before','type':['null',{'name':'Thing','type':'record','fields':["
                   " {'name':'k','type':'string'},{'name':'n','type':'long','default':0}],"
                   " 'canon.key':'k'}],'default':null},"
                   "{'name':'after','type':['null','Thing'],'default':null}," ENVELOPE_TAIL "]}");
    reg_schema_free(s);
}

/* The same schema written differently (member order, whitespace) derives the same bytes. */
static void test_same_schema_same_bytes(void **state)
{
    (void)state;
    reg_schema *a = parse("{'type':'record','name':'P','namespace':'t','canon.key':'id',"
                          "'fields':[{'name':'id','type':'string'},"
                          "{'name':'x','type':['null','int'],'default':null,'doc':'d'}]}");
    reg_schema *b = parse("{ 'fields' : [ {'type':'string', 'name':'id'},"
                          "  {'doc':'d','default':null,'type':['null','int'],'name':'x'} ],"
                          " 'canon.key':'id', 'namespace':'t', 'name':'P', 'type':'record' }");
    derive_fn fns[] = {reg_canon_derive_update, reg_canon_derive_envelope};
    for (size_t i = 0; i < 2; i++) {
        char *x = derive_ok(fns[i], a);
        char *y = derive_ok(fns[i], b);
        assert_string_equal(x, y);
        free(x);
        free(y);
    }
    reg_schema_free(a);
    reg_schema_free(b);
}

/* ---- refusals --------------------------------------------------------------------- */

#define REC_WITH(fields)                                                                           \
    "{'type':'record','name':'Person','namespace':'n','canon.key':'id','fields':["                 \
    "{'name':'id','type':'string'}," fields "]}"

static void test_name_clashes_are_refused(void **state)
{
    (void)state;
    const char *upd = REC_WITH("{'name':'x','type':{'type':'record','name':'PersonUpdate',"
                               "'fields':[]},'default':{}}");
    expect_refused(reg_canon_derive_update, upd, "'n.PersonUpdate'");
    char *out = NULL;
    reg_schema *s = parse(upd);
    assert_null(reg_canon_derive_envelope(s, &out)); /* no clash there */
    free(out);
    reg_schema_free(s);

    expect_refused(reg_canon_derive_update,
                   REC_WITH("{'name':'x','type':{'type':'enum','name':'PersonValues',"
                            "'symbols':['A']},'default':'A'}"),
                   "clashes with the derived record 'n.PersonValues'");
    const char *env = REC_WITH("{'name':'x','type':['null',{'type':'fixed',"
                               "'name':'PersonEnvelope','size':1}],'default':null}");
    expect_refused(reg_canon_derive_envelope, env, "'n.PersonEnvelope'");
    s = parse(env);
    out = NULL;
    assert_null(reg_canon_derive_update(s, &out));
    free(out);
    reg_schema_free(s);

    /* The same short name in another namespace is no clash. */
    s = parse(REC_WITH("{'name':'x','type':{'type':'record','name':'PersonUpdate',"
                       "'namespace':'other','fields':[]},'default':{}}"));
    out = NULL;
    assert_null(reg_canon_derive_update(s, &out));
    assert_non_null(strstr(out, "other.PersonUpdate"));
    free(out);
    reg_schema_free(s);
}

static void test_framework_namespace_is_refused(void **state)
{
    (void)state;
    derive_fn fns[] = {reg_canon_derive_update, reg_canon_derive_envelope};
    for (size_t i = 0; i < 2; i++) {
        expect_refused(fns[i],
                       REC_WITH("{'name':'x','type':{'type':'enum','name':'UpdateOp',"
                                "'namespace':'canongate','symbols':['UPSERT']},"
                                "'default':'UPSERT'}"),
                       "namespace 'canongate' is reserved");
        expect_refused(fns[i],
                       REC_WITH("{'name':'x','type':['null',{'type':'record','name':'Mine',"
                                "'namespace':'canongate.sub','fields':[]}],'default':null}"),
                       "type 'canongate.sub.Mine'");
        expect_refused(fns[i],
                       "{'type':'record','name':'Person','namespace':'canongate',"
                       "'canon.key':'id','fields':[{'name':'id','type':'string'}]}",
                       "reserved");
    }
    /* A namespace that only starts with the same letters is fine. */
    reg_schema *s = parse(REC_WITH("{'name':'x','type':{'type':'enum','name':'E',"
                                   "'namespace':'canongate2','symbols':['A']},'default':'A'}"));
    char *out = NULL;
    assert_null(reg_canon_derive_update(s, &out));
    free(out);
    reg_schema_free(s);
}

static void test_other_refusals(void **state)
{
    (void)state;
    derive_fn fns[] = {reg_canon_derive_update, reg_canon_derive_envelope};
    for (size_t i = 0; i < 2; i++) {
        /* Not a canonical schema at all. */
        expect_refused(fns[i],
                       "{'type':'record','name':'P','fields':[{'name':'id','type':'string'}]}",
                       "canon.key");
        /* A null-namespace type inside a namespaced record would change its full name. */
        expect_refused(fns[i],
                       REC_WITH("{'name':'x','type':{'type':'enum','name':'E','namespace':'',"
                                "'symbols':['A']},'default':'A'}"),
                       "null namespace");
        /* A non-key field with neither a default nor null (the canon contract). */
        expect_refused(fns[i], REC_WITH("{'name':'x','type':'int'}"),
                       "field 'n.Person.x' has no default and is not nullable");
    }
    /* The key field cannot take the name of an update field. */
    const char *names[] = {"source", "event_time", "seq", "op", "provided", "values"};
    for (size_t i = 0; i < 6; i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{'type':'record','name':'P','canon.key':'%s','fields':["
                 "{'name':'%s','type':'string'}]}",
                 names[i], names[i]);
        expect_refused(reg_canon_derive_update, text, "has the name of a field of the derived");
        reg_schema *s = parse(text);
        char *out = NULL;
        assert_null(reg_canon_derive_envelope(s, &out));
        free(out);
        reg_schema_free(s);
    }
}

/* ---- evolution -------------------------------------------------------------------- */

/* Versions of a canonical schema, each FULL_TRANSITIVE-compatible with all before it:
 * fields added and removed with defaults, an enum symbol added with an enum default, a
 * nested record grown. */
static const char *const evolution[] = {
    "{'type':'record','name':'P','namespace':'t','canon.key':'id','fields':["
    " {'name':'id','type':'string'},"
    " {'name':'name','type':['null','string'],'default':null},"
    " {'name':'tier','type':{'type':'enum','name':'Tier','symbols':['LOW','HIGH'],"
    "  'default':'LOW'},'default':'LOW'},"
    " {'name':'addr','type':['null',{'type':'record','name':'A','fields':["
    "   {'name':'city','type':['null','string'],'default':null}]}],'default':null}]}",

    "{'type':'record','name':'P','namespace':'t','canon.key':'id','fields':["
    " {'name':'id','type':'string'},"
    " {'name':'name','type':['null','string'],'default':null},"
    " {'name':'tier','type':{'type':'enum','name':'Tier','symbols':['LOW','HIGH'],"
    "  'default':'LOW'},'default':'LOW'},"
    " {'name':'addr','type':['null',{'type':'record','name':'A','fields':["
    "   {'name':'city','type':['null','string'],'default':null}]}],'default':null},"
    " {'name':'tags','type':{'type':'array','items':'string'},'default':[]}]}",

    "{'type':'record','name':'P','namespace':'t','canon.key':'id','fields':["
    " {'name':'id','type':'string'},"
    " {'name':'name','type':['null','string'],'default':null},"
    " {'name':'tier','type':{'type':'enum','name':'Tier','symbols':['LOW','HIGH','MID'],"
    "  'default':'LOW'},'default':'LOW'},"
    " {'name':'addr','type':['null',{'type':'record','name':'A','fields':["
    "   {'name':'city','type':['null','string'],'default':null},"
    "   {'name':'zip','type':['null','string'],'default':null}]}],'default':null},"
    " {'name':'tags','type':{'type':'array','items':'string'},'default':[]}]}",

    "{'type':'record','name':'P','namespace':'t','canon.key':'id','fields':["
    " {'name':'id','type':'string'},"
    " {'name':'name','type':['null','string'],'default':null},"
    " {'name':'tier','type':{'type':'enum','name':'Tier','symbols':['LOW','HIGH','MID'],"
    "  'default':'LOW'},'default':'LOW'},"
    " {'name':'addr','type':['null',{'type':'record','name':'A','fields':["
    "   {'name':'city','type':['null','string'],'default':null},"
    "   {'name':'zip','type':['null','string'],'default':null}]}],'default':null},"
    " {'name':'email','type':['null','string'],'default':null}]}",
};

static size_t full_transitive_problems(reg_schema **v, size_t n)
{
    size_t problems = 0;
    for (size_t i = 1; i < n; i++) {
        reg_compat_result *r = reg_compat_result_new();
        size_t k = reg_compat_check(REG_COMPAT_FULL_TRANSITIVE, v[i], (const reg_schema *const *)v,
                                    NULL, i, r);
        for (size_t m = 0; m < k; m++)
            print_message("v%zu: %s\n", i + 1, reg_compat_result_message(r, m));
        problems += k;
        reg_compat_result_free(r);
    }
    return problems;
}

static reg_schema *derived(derive_fn fn, const reg_schema *s)
{
    char *text = derive_ok(fn, s);
    reg_schema *d = NULL;
    assert_null(reg_schema_parse(text, strlen(text), NULL, 0, &d));
    free(text);
    return d;
}

static void test_evolution_keeps_derived_schemas_compatible(void **state)
{
    (void)state;
    enum { N = sizeof(evolution) / sizeof(evolution[0]) };
    reg_schema *canon[N], *upd[N], *env[N];
    for (size_t i = 0; i < N; i++) {
        canon[i] = parse(evolution[i]);
        upd[i] = derived(reg_canon_derive_update, canon[i]);
        env[i] = derived(reg_canon_derive_envelope, canon[i]);
    }
    /* The premise: the canonical versions are FULL_TRANSITIVE. */
    assert_int_equal(full_transitive_problems(canon, N), 0);
    assert_int_equal(full_transitive_problems(upd, N), 0);
    assert_int_equal(full_transitive_problems(env, N), 0);
    for (size_t i = 0; i < N; i++) {
        reg_schema_free(canon[i]);
        reg_schema_free(upd[i]);
        reg_schema_free(env[i]);
    }
}

/* The check can fail: a canonical change that breaks compatibility breaks the envelope
 * (it carries the record itself); a type change breaks the update schema as well, while a
 * new field without a default (nullable, as the contract wants) does not (every values
 * field is optional). */
static void test_incompatible_canonical_change_shows_in_derived(void **state)
{
    (void)state;
    reg_schema *base = parse(evolution[0]);
    reg_schema *no_default =
        parse("{'type':'record','name':'P','namespace':'t','canon.key':'id','fields':["
              " {'name':'id','type':'string'},"
              " {'name':'name','type':['null','string'],'default':null},"
              " {'name':'tier','type':{'type':'enum','name':'Tier','symbols':['LOW','HIGH'],"
              "  'default':'LOW'},'default':'LOW'},"
              " {'name':'addr','type':['null',{'type':'record','name':'A','fields':["
              "   {'name':'city','type':['null','string'],'default':null}]}],'default':null},"
              " {'name':'age','type':['null','int']}]}");
    reg_schema *retyped =
        parse("{'type':'record','name':'P','namespace':'t','canon.key':'id','fields':["
              " {'name':'id','type':'string'},"
              " {'name':'name','type':['null','boolean'],'default':null},"
              " {'name':'tier','type':{'type':'enum','name':'Tier','symbols':['LOW','HIGH'],"
              "  'default':'LOW'},'default':'LOW'},"
              " {'name':'addr','type':['null',{'type':'record','name':'A','fields':["
              "   {'name':'city','type':['null','string'],'default':null}]}],'default':null}]}");
    reg_schema *v[2] = {base, no_default};
    assert_true(full_transitive_problems(v, 2) > 0);
    reg_schema *u[2] = {derived(reg_canon_derive_update, base),
                        derived(reg_canon_derive_update, no_default)};
    reg_schema *e[2] = {derived(reg_canon_derive_envelope, base),
                        derived(reg_canon_derive_envelope, no_default)};
    assert_int_equal(full_transitive_problems(u, 2), 0);
    assert_true(full_transitive_problems(e, 2) > 0);
    reg_schema_free(u[1]);
    reg_schema_free(e[1]);
    u[1] = derived(reg_canon_derive_update, retyped);
    e[1] = derived(reg_canon_derive_envelope, retyped);
    assert_true(full_transitive_problems(u, 2) > 0);
    assert_true(full_transitive_problems(e, 2) > 0);
    for (size_t i = 0; i < 2; i++) {
        reg_schema_free(u[i]);
        reg_schema_free(e[i]);
    }
    reg_schema_free(base);
    reg_schema_free(no_default);
    reg_schema_free(retyped);
}

/* A rename with an alias, which a BACKWARD canonical subject accepts: the derived records
 * carry the matching aliases, so the derived schemas are BACKWARD compatible too. */
static void test_renamed_record_gives_derived_aliases(void **state)
{
    (void)state;
    reg_schema *v1 = parse("{'type':'record','name':'P','namespace':'t','canon.key':'id',"
                           "'fields':[{'name':'id','type':'string'},"
                           "{'name':'x','type':['null','int'],'default':null}]}");
    reg_schema *v2 = parse("{'type':'record','name':'Q','namespace':'t','aliases':['P','o.R'],"
                           "'canon.key':'id','fields':[{'name':'id','type':'string'},"
                           "{'name':'x','type':['null','int'],'default':null}]}");
    expect_derived(reg_canon_derive_update, v2,
                   "{'type':'record','name':'QUpdate','namespace':'t',"
                   "'aliases':['t.PUpdate','o.RUpdate'],'fields':[" UPDATE_HEAD(
                       "{'name':'id','type':'string'}") "{'name':'values','type':{'type':'record',"
                                                        "'name':'QValues','namespace':'t',"
                                                        "'aliases':['t.PValues','o.RValues'],"
                                                        "'fields':[{'name':'x','type':['null',"
                                                        "'int'],'default':null}]}}]}");
    derive_fn fns[] = {reg_canon_derive_update, reg_canon_derive_envelope};
    for (size_t i = 0; i < 2; i++) {
        reg_schema *old = derived(fns[i], v1), *new_ = derived(fns[i], v2);
        reg_compat_result *r = reg_compat_result_new();
        size_t k = reg_compat_check(REG_COMPAT_BACKWARD, new_, (const reg_schema *const *)&old,
                                    NULL, 1, r);
        for (size_t m = 0; m < k; m++)
            print_message("%s\n", reg_compat_result_message(r, m));
        assert_int_equal(k, 0);
        reg_compat_result_free(r);
        reg_schema_free(old);
        reg_schema_free(new_);
    }
    reg_schema_free(v1);
    reg_schema_free(v2);
}

/* ---- registration plans ----------------------------------------------------------- */

static void expect_plan_refused(const char *subject, const reg_schema *s, int import,
                                const char *needle)
{
    reg_canon_plan p;
    memset(&p, 'x', sizeof(p));
    cg_err *err = reg_canon_plan_make(subject, s, import, &p);
    if (!err)
        fail_msg("plan for %s accepted, expected \"%s\"", subject, needle);
    if (!strstr(cg_err_msg(err), needle))
        fail_msg("message \"%s\" lacks \"%s\"", cg_err_msg(err), needle);
    assert_int_equal(p.derived, 0);
    assert_null(p.text[1]);
    assert_null(p.text[2]);
    cg_err_free(err);
}

static void test_plans_follow_the_subject(void **state)
{
    (void)state;
    char *text = read_example("person.avsc");
    reg_schema *person = NULL;
    assert_null(reg_schema_parse(text, strlen(text), NULL, 0, &person));
    char *upd = derive_ok(reg_canon_derive_update, person);
    char *env = derive_ok(reg_canon_derive_envelope, person);
    /* The canonical subject, and the envelope subject as a convenience, register three. */
    const char *subjects[] = {"canon.person.entity", "canon.person-value"};
    for (size_t i = 0; i < 2; i++) {
        reg_canon_plan p;
        assert_null(reg_canon_plan_make(subjects[i], person, 0, &p));
        assert_int_equal(p.derived, 1);
        assert_string_equal(p.entity, "person");
        assert_string_equal(p.subject[0], "canon.person.entity");
        assert_string_equal(p.subject[1], "canon.person.updates-value");
        assert_string_equal(p.subject[2], "canon.person-value");
        assert_null(p.text[0]);
        assert_string_equal(p.text[1], upd);
        assert_string_equal(p.text[2], env);
        assert_string_equal(p.role[1], "update");
        reg_canon_plan_clear(&p);
        assert_null(p.text[1]);
    }
    /* The derived subjects refuse direct writes; the envelope subject wants canon.key. */
    reg_schema *env_s = NULL;
    assert_null(reg_schema_parse(env, strlen(env), NULL, 0, &env_s));
    reg_schema *upd_s = NULL;
    assert_null(reg_schema_parse(upd, strlen(upd), NULL, 0, &upd_s));
    expect_plan_refused("canon.person.updates-value", upd_s, 0, "derived subject");
    expect_plan_refused("canon.person.updates-value", person, 0, "derived subject");
    expect_plan_refused("canon.person-value", env_s, 0, "\"canon.key\"");
    expect_plan_refused("canon.person.entity", env_s, 0, "no \"canon.key\"");
    /* The contract and the derivation are checked. */
    reg_schema *clash = parse(REC_WITH("{'name':'x','type':{'type':'enum','name':'PersonUpdate',"
                                       "'symbols':['A']},'default':'A'}"));
    expect_plan_refused("canon.person.entity", clash, 0, "clashes");
    expect_plan_refused("canon.person-value", clash, 0, "clashes");
    reg_schema *required = parse(REC_WITH("{'name':'x','type':'int'}"));
    expect_plan_refused("canon.person.entity", required, 0, "'n.Person.x' has no default");
    expect_plan_refused("canon.person-value", required, 0, "'n.Person.x' has no default");
    /* IMPORT registers as posted; the canonical subject keeps its contract. */
    struct {
        const char *subject;
        const reg_schema *s;
    } imports[] = {{"canon.person.updates-value", upd_s},
                   {"canon.person-value", env_s},
                   {"canon.person-value", person},
                   {"canon.person.entity", person},
                   {"canon.person.entity", clash}};
    for (size_t i = 0; i < sizeof(imports) / sizeof(imports[0]); i++) {
        reg_canon_plan p;
        assert_null(reg_canon_plan_make(imports[i].subject, imports[i].s, 1, &p));
        assert_int_equal(p.derived, 0);
        assert_null(p.text[1]);
        reg_canon_plan_clear(&p);
    }
    expect_plan_refused("canon.person.entity", env_s, 1, "no \"canon.key\"");
    expect_plan_refused("canon.person.entity", required, 1, "'n.Person.x' has no default");
    /* Not an entity's subject. */
    reg_canon_plan p;
    cg_err *err = reg_canon_plan_make("person-value", person, 0, &p);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EINVAL);
    cg_err_free(err);
    reg_schema_free(clash);
    reg_schema_free(required);
    reg_schema_free(env_s);
    reg_schema_free(upd_s);
    reg_schema_free(person);
    free(upd);
    free(env);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_person_update),
        cmocka_unit_test(test_person_envelope),
        cmocka_unit_test(test_account_update_and_envelope),
        cmocka_unit_test(test_recursive_types),
        cmocka_unit_test(test_unions_everywhere),
        cmocka_unit_test(test_null_namespace),
        cmocka_unit_test(test_same_schema_same_bytes),
        cmocka_unit_test(test_name_clashes_are_refused),
        cmocka_unit_test(test_framework_namespace_is_refused),
        cmocka_unit_test(test_other_refusals),
        cmocka_unit_test(test_evolution_keeps_derived_schemas_compatible),
        cmocka_unit_test(test_incompatible_canonical_change_shows_in_derived),
        cmocka_unit_test(test_renamed_record_gives_derived_aliases),
        cmocka_unit_test(test_plans_follow_the_subject),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
