//! Parsing `#[dn::task(...)]` options, with errors that name the problem.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprArray, ExprLit, Ident, Lit, LitStr, Path, Token};

/// Which arguments to log.
pub enum LogInputs {
    All,
    None,
    Only(Vec<Ident>),
}

pub struct Options {
    pub name: Option<LitStr>,
    pub label: Option<LitStr>,
    pub span_type: Option<TokenStream>,
    pub tags: Vec<LitStr>,
    pub scorers: Vec<Scorer>,
    pub log_inputs: LogInputs,
    pub log_output: bool,
    pub entrypoint: bool,
    pub krate: Option<Path>,
}

const KNOWN: &str = "name, label, type, tags, scorers, log_inputs, log_output, entrypoint, crate";

/// The span types `type = ..` accepts: `(wire name, SpanType variant)`;
/// a test checks it equals `dn_core::SpanType::USER`.
pub(crate) const SPAN_TYPES: &[(&str, &str)] = &[
    ("task", "Task"),
    ("evaluation", "Evaluation"),
    ("agent", "Agent"),
    ("study", "Study"),
    ("tool", "Tool"),
    ("trial", "Trial"),
    ("sample", "Sample"),
    ("generation", "Generation"),
    ("scorer", "Scorer"),
    ("transform", "Transform"),
    ("span", "Span"),
];

/// A scorer: a function called with the output, and with the task's
/// inputs too when written `f(output, inputs)`.
pub struct Scorer {
    pub path: Path,
    pub with_inputs: bool,
}

/// `f(output)` or `f(output, inputs)`: the argument names say what is passed.
fn scorer_call(c: syn::ExprCall) -> syn::Result<Scorer> {
    let Expr::Path(f) = *c.func else {
        return Err(syn::Error::new_spanned(c.func, "a scorer is a function path: scorers = [f, f(output, inputs)]"));
    };
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| match a {
            Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()).unwrap_or_default(),
            _ => String::new(),
        })
        .collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["output"] => Ok(Scorer { path: f.path, with_inputs: false }),
        ["output", "inputs"] => Ok(Scorer { path: f.path, with_inputs: true }),
        _ => Err(syn::Error::new_spanned(
            c.args,
            "a scorer call names what it takes: `f(output)` or `f(output, inputs)` (inputs: &dn::TaskInputs)",
        )),
    }
}

/// One `key`, `key = value` item.
struct Item {
    key: Ident,
    value: Option<Expr>,
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = if input.peek(Token![crate]) {
            let k: Token![crate] = input.parse()?;
            Ident::new("crate", k.span)
        } else if input.peek(Token![type]) {
            let k: Token![type] = input.parse()?;
            Ident::new("type", k.span)
        } else {
            Ident::parse_any(input)?
        };
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Item { key, value })
    }
}

fn lit_str(key: &Ident, v: Option<Expr>) -> syn::Result<LitStr> {
    match v {
        Some(Expr::Lit(ExprLit { lit: Lit::Str(s), .. })) => Ok(s),
        Some(other) => {
            Err(syn::Error::new_spanned(other, format!("`{key}` takes a string literal, e.g. {key} = \"...\"")))
        }
        None => Err(syn::Error::new(key.span(), format!("`{key}` needs a value: {key} = \"...\""))),
    }
}

fn lit_bool(key: &Ident, v: Option<Expr>) -> syn::Result<bool> {
    match v {
        None => Ok(true),
        Some(Expr::Lit(ExprLit { lit: Lit::Bool(b), .. })) => Ok(b.value),
        Some(other) => Err(syn::Error::new_spanned(other, format!("`{key}` takes `true` or `false`"))),
    }
}

fn array(key: &Ident, v: Option<Expr>, what: &str) -> syn::Result<ExprArray> {
    match v {
        Some(Expr::Array(a)) => Ok(a),
        Some(other) => Err(syn::Error::new_spanned(other, format!("`{key}` takes a list of {what}: {key} = [..]"))),
        None => Err(syn::Error::new(key.span(), format!("`{key}` needs a value: {key} = [..]"))),
    }
}

impl Options {
    pub fn parse(attr: TokenStream) -> syn::Result<Options> {
        let items: Punctuated<Item, Token![,]> = syn::parse::Parser::parse2(Punctuated::parse_terminated, attr)?;
        let mut o = Options {
            name: None,
            label: None,
            span_type: None,
            tags: vec![],
            scorers: vec![],
            log_inputs: LogInputs::All,
            log_output: true,
            entrypoint: false,
            krate: None,
        };
        let mut seen: Vec<String> = vec![];
        for Item { key, value } in items {
            let k = key.unraw().to_string();
            if seen.contains(&k) {
                return Err(syn::Error::new(key.span(), format!("duplicate option `{k}`")));
            }
            seen.push(k.clone());
            match k.as_str() {
                "name" => o.name = Some(lit_str(&key, value)?),
                "label" => o.label = Some(lit_str(&key, value)?),
                "type" => o.span_type = Some(span_type(&key, value)?),
                "tags" => {
                    for e in array(&key, value, "string literals")?.elems {
                        match e {
                            Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => o.tags.push(s),
                            other => return Err(syn::Error::new_spanned(other, "`tags` takes string literals")),
                        }
                    }
                }
                "scorers" => {
                    for e in array(&key, value, "scorer functions")?.elems {
                        match e {
                            Expr::Path(p) => o.scorers.push(Scorer { path: p.path, with_inputs: false }),
                            Expr::Call(c) => o.scorers.push(scorer_call(c)?),
                            other => {
                                return Err(syn::Error::new_spanned(
                                    other,
                                    "`scorers` takes function paths, or `f(output, inputs)` for a scorer that reads \
                                     the task's inputs: scorers = [f, module::g, accuracy(output, inputs)]",
                                ));
                            }
                        }
                    }
                }
                "log_inputs" => {
                    o.log_inputs = match value {
                        Some(Expr::Array(a)) => {
                            let mut names = vec![];
                            for e in a.elems {
                                match e {
                                    Expr::Path(p) if p.path.get_ident().is_some() => {
                                        names.extend(p.path.get_ident().cloned());
                                    }
                                    other => {
                                        return Err(syn::Error::new_spanned(
                                            other,
                                            "`log_inputs` lists argument names: log_inputs = [a, b]",
                                        ));
                                    }
                                }
                            }
                            LogInputs::Only(names)
                        }
                        v => {
                            if lit_bool(&key, v)? {
                                LogInputs::All
                            } else {
                                LogInputs::None
                            }
                        }
                    }
                }
                "log_output" => o.log_output = lit_bool(&key, value)?,
                "entrypoint" => o.entrypoint = lit_bool(&key, value)?,
                "crate" => match value {
                    Some(Expr::Path(p)) => o.krate = Some(p.path),
                    Some(other) => {
                        return Err(syn::Error::new_spanned(other, "`crate` takes a path: crate = ::my::dn"));
                    }
                    None => return Err(syn::Error::new(key.span(), "`crate` needs a path: crate = ::my::dn")),
                },
                _ => {
                    return Err(syn::Error::new(key.span(), format!("unknown option `{k}`; expected one of: {KNOWN}")));
                }
            }
        }
        Ok(o)
    }

    pub fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(p) => quote!(#p),
            None => quote!(::dn),
        }
    }
}

fn span_type(key: &Ident, v: Option<Expr>) -> syn::Result<TokenStream> {
    let (name, span) = match &v {
        Some(Expr::Lit(ExprLit { lit: Lit::Str(s), .. })) => (s.value(), s.span()),
        Some(Expr::Path(p)) => match p.path.segments.last() {
            Some(seg) => (seg.ident.to_string().to_lowercase(), seg.ident.span()),
            None => (String::new(), Span::call_site()),
        },
        Some(other) => {
            return Err(syn::Error::new_spanned(other, "`type` takes a span type: type = \"tool\" or type = Tool"));
        }
        None => return Err(syn::Error::new(key.span(), "`type` needs a value: type = \"tool\"")),
    };
    match SPAN_TYPES.iter().find(|(n, _)| *n == name) {
        Some((_, variant)) => {
            let v = Ident::new(variant, span);
            Ok(quote!(#v))
        }
        None => Err(syn::Error::new(
            span,
            format!(
                "unknown span type `{name}`; expected one of: {}",
                SPAN_TYPES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::SPAN_TYPES;

    #[test]
    fn the_span_type_list_equals_dn_core_span_type() {
        let user = dn_core::SpanType::USER;
        assert_eq!(SPAN_TYPES.len(), user.len());
        for ((wire, variant), t) in SPAN_TYPES.iter().zip(user) {
            assert_eq!(*wire, t.as_str());
            assert_eq!(*variant, format!("{t:?}"));
            assert_eq!(wire.parse::<dn_core::SpanType>().unwrap(), t);
        }
    }
}
