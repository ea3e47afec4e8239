/*
 * ak_policy_int.h - private to the policy modules (ak_policy.c, ak_policy_intent.c): the one way
 * a rule refuses (the verdict's rule name and a printf-style reason) and u256 values in reasons.
 */
#ifndef AK_POLICY_INT_H
#define AK_POLICY_INT_H

#include "ak_policy.h"
#include "ak_u256.h"

/* Sets v->rule and v->why; returns 0 (the "not allowed" result of every check). */
__attribute__((format(printf, 3, 4))) int ak_policy_refuse(ak_policy_verdict *v, const char *rule,
                                                           const char *fmt, ...);
/* x in decimal into out ("?" if it cannot be formatted). */
void ak_policy_dec(char out[AK_U256_DECIMAL_MAX], const ak_u256 *x);

#endif
