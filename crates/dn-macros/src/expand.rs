//! Code generation for `#[dn::task]`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type, TypeImplTrait, TypeParamBound};

use crate::options::{LogInputs, Options};

pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let err = syn::Error::new(Span::call_site(), "#[dn::task] can only be used on functions and methods")
                .to_compile_error();
            return quote!(#err #item);
        }
    };
    match Options::parse(attr).and_then(|o| expand(&o, func)) {
        Ok(ts) => ts,
        // Keep the function as written so the rest of the crate (and IDE
        // completion inside its body) still works while the error shows.
        Err(e) => {
            let err = e.to_compile_error();
            quote!(#err #item)
        }
    }
}

/// How the function returns.
enum Shape {
    /// `async fn`.
    Async,
    /// `fn .. -> impl Future<Output = T>`.
    ImplFuture,
    /// A plain function.
    Sync,
}

fn expand(o: &Options, func: ItemFn) -> syn::Result<TokenStream> {
    let krate = o.krate();
    let ItemFn { attrs, vis, sig, block } = func;
    let fn_ident = &sig.ident;
    let fn_name = fn_ident.to_string();
    let name = o.name.as_ref().map_or_else(|| quote!(#fn_name), |n| quote!(#n));
    let label = o
        .label
        .as_ref()
        .map_or_else(|| quote!(::core::option::Option::None), |l| quote!(::core::option::Option::Some(#l)));
    let span_type = o.span_type.clone().unwrap_or_else(|| quote!(Task));
    let tags = &o.tags;
    let entrypoint = o.entrypoint;
    let line = quote_spanned!(fn_ident.span()=> ::core::line!());

    // Arguments to log.
    let mut args: Vec<syn::Ident> = vec![];
    for a in &sig.inputs {
        if let FnArg::Typed(pt) = a {
            if let Pat::Ident(pi) = &*pt.pat {
                args.push(pi.ident.clone());
            }
        }
    }
    let logged: Vec<syn::Ident> = match &o.log_inputs {
        LogInputs::All => args.iter().filter(|a| !a.to_string().starts_with('_')).cloned().collect(),
        LogInputs::None => vec![],
        LogInputs::Only(names) => {
            for n in names {
                if !args.iter().any(|a| a == n) {
                    return Err(syn::Error::new(
                        n.span(),
                        format!("log_inputs names `{n}`, which is not an argument of `{fn_name}`"),
                    ));
                }
            }
            names.clone()
        }
    };
    let inputs = logged.iter().map(|a| {
        let s = a.to_string();
        quote_spanned!(a.span()=> __dn_call.input(#s, &#a);)
    });

    let shape = if sig.asyncness.is_some() {
        Shape::Async
    } else if future_output(&sig.output).is_some() {
        Shape::ImplFuture
    } else {
        Shape::Sync
    };
    // The value the body produces (for async fns and impl Future: the output).
    let value_ty: Option<Type> = match (&shape, &sig.output) {
        (Shape::ImplFuture, out) => future_output(out),
        (_, ReturnType::Type(_, t)) => Some((**t).clone()),
        (_, ReturnType::Default) => None,
    };
    let is_result = value_ty.as_ref().is_some_and(is_result_type);
    let nameable = value_ty.as_ref().is_some_and(|t| is_nameable(&t.to_token_stream_string()));

    // Output logging and scorers, given `__dn_out` and `__dn_task`.
    let log_output = o.log_output && value_ty.is_some();
    let output_stmt = if log_output { quote!(#krate::__private::output(&__dn_task, __dn_v);) } else { quote!() };
    let is_async_body = !matches!(shape, Shape::Sync);
    let scorer_stmts = o.scorers.iter().map(|s| {
        let f = &s.path;
        let fname = f.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
        let resolve = if is_async_body { quote!(.resolve(__dn_w).await) } else { quote!(.resolve_sync(__dn_w)) };
        let (bind, call) = if s.with_inputs {
            (quote!(let __dn_inputs = #krate::__private::inputs(&__dn_task);), quote!(#f(__dn_v, &__dn_inputs)))
        } else {
            (quote!(), quote!(#f(__dn_v)))
        };
        quote_spanned! {f.span()=>
            {
                #bind
                let __dn_w = #krate::__private::ScoreWrap(#call);
                #[allow(unused_imports)]
                use #krate::__private::{ScoreViaFuture as _, ScoreViaValue as _};
                let __dn_r = (&__dn_w).__dn_kind() #resolve;
                #krate::__private::score(&__dn_task, #fname, __dn_v, __dn_r);
            }
        }
    });
    let scorers: Vec<TokenStream> = scorer_stmts.collect();
    let after = if value_ty.is_none() {
        quote!()
    } else if is_result {
        quote! {
            match &__dn_out {
                ::core::result::Result::Ok(__dn_v) => { #output_stmt #(#scorers)* }
                ::core::result::Result::Err(__dn_e) => #krate::__private::fail(&__dn_task, __dn_e),
            }
        }
    } else {
        quote! {
            {
                let __dn_v = &__dn_out;
                #output_stmt
                #(#scorers)*
            }
        }
    };
    let ret_annot = match (&value_ty, nameable) {
        (Some(t), true) => quote!(-> #t),
        (None, _) => quote!(-> ()),
        _ => quote!(),
    };

    let meta = quote! {
        #krate::__private::Meta {
            name: #name,
            label: #label,
            span_type: #krate::SpanType::#span_type,
            tags: &[#(#tags),*],
            entrypoint: #entrypoint,
            function: #fn_name,
            file: {
                // Normalised once per call site (`crates/dn/../../examples/x.rs`
                // reads `examples/x.rs`); later calls are one atomic load.
                static __DN_FILE: ::std::sync::OnceLock<&'static str> = ::std::sync::OnceLock::new();
                *__DN_FILE.get_or_init(|| #krate::__private::normalize_file(::core::file!()))
            },
            line: #line,
        }
    };

    let body = match shape {
        Shape::Sync => quote! {
            let __dn_call = #krate::__private::start(&#meta);
            #(#inputs)*
            let __dn_task = ::core::clone::Clone::clone(__dn_call.task());
            #[allow(clippy::redundant_closure_call)]
            let __dn_out = #krate::__private::run_sync(&__dn_call, move || #ret_annot #block);
            let _ = &__dn_task;
            #after
            __dn_call.finish();
            __dn_out
        },
        Shape::Async => {
            let typed = if nameable {
                let t = value_ty.clone();
                quote!(#krate::__private::typed_future::<#t, _>(async move #block))
            } else {
                quote!(async move #block)
            };
            quote! {
                let __dn_call = #krate::__private::start(&#meta);
                #(#inputs)*
                let __dn_task = ::core::clone::Clone::clone(__dn_call.task());
                __dn_call.instrument(async move {
                    let __dn_out = #typed.await;
                    let _ = &__dn_task;
                    #after
                    __dn_out
                }).await
            }
        }
        Shape::ImplFuture => quote! {
            let __dn_call = #krate::__private::start(&#meta);
            #(#inputs)*
            let __dn_task = ::core::clone::Clone::clone(__dn_call.task());
            #[allow(clippy::redundant_closure_call)]
            let __dn_fut = #krate::__private::run_sync(&__dn_call, move || #block);
            __dn_call.instrument(async move {
                let __dn_out = __dn_fut.await;
                let _ = &__dn_task;
                #after
                __dn_out
            })
        },
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}

trait TokensString {
    fn to_token_stream_string(&self) -> String;
}
impl TokensString for Type {
    fn to_token_stream_string(&self) -> String {
        quote!(#self).to_string()
    }
}

/// A type that can be written as a closure's return type: no `impl Trait`
/// and no elided or anonymous lifetimes.
fn is_nameable(ty: &str) -> bool {
    !ty.contains("impl ") && !ty.contains('&') && !ty.contains("'_") && !ty.contains("dyn ")
}

/// `Result<..>` by its last path segment (`Result`, `io::Result`, `anyhow::Result`).
fn is_result_type(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        Type::Paren(p) => is_result_type(&p.elem),
        Type::Group(g) => is_result_type(&g.elem),
        _ => false,
    }
}

/// `T` of `-> impl Future<Output = T>`.
fn future_output(ret: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, ty) = ret else { return None };
    let Type::ImplTrait(TypeImplTrait { bounds, .. }) = &**ty else { return None };
    for b in bounds {
        if let TypeParamBound::Trait(t) = b {
            let seg = t.path.segments.last()?;
            if seg.ident != "Future" {
                continue;
            }
            if let PathArguments::AngleBracketed(a) = &seg.arguments {
                for arg in &a.args {
                    if let GenericArgument::AssocType(at) = arg {
                        if at.ident == "Output" {
                            return Some(at.ty.clone());
                        }
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn expand_str(attr: TokenStream, item: TokenStream) -> String {
        task(attr, item).to_string().split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn sync_functions_run_the_body_in_run_sync() {
        let out = expand_str(
            quote!(),
            quote!(
                fn f(x: i32) -> i32 {
                    x
                }
            ),
        );
        assert!(out.contains(":: dn :: __private :: start"), "{out}");
        assert!(out.contains("__dn_call . input (\"x\" , & x)"), "{out}");
        assert!(out.contains(":: dn :: __private :: run_sync"), "{out}");
        assert!(out.contains("move || -> i32"), "the closure keeps the return type: {out}");
        assert!(out.contains(":: dn :: __private :: output"), "{out}");
        assert!(!out.contains(". instrument"), "{out}");
    }

    #[test]
    fn async_functions_instrument_a_typed_future() {
        let out = expand_str(
            quote!(),
            quote!(
                async fn f(x: i32) -> i32 {
                    x
                }
            ),
        );
        assert!(out.contains("async fn f"), "{out}");
        assert!(out.contains("__dn_call . instrument"), "{out}");
        assert!(out.contains("typed_future :: < i32 , _ >"), "{out}");
        assert!(!out.contains("run_sync"), "{out}");
    }

    #[test]
    fn impl_future_functions_build_the_future_in_the_span_then_instrument_it() {
        let out = expand_str(
            quote!(),
            quote!(
                fn f(x: u32) -> impl std::future::Future<Output = u32> {
                    async move { x }
                }
            ),
        );
        assert!(out.contains("run_sync"), "{out}");
        assert!(out.contains("__dn_fut . await"), "{out}");
        assert!(out.contains(". instrument"), "{out}");
    }

    #[test]
    fn result_functions_log_ok_and_fail_on_err() {
        let out = expand_str(
            quote!(),
            quote!(
                fn f(s: &str) -> Result<i64, E> {
                    todo!()
                }
            ),
        );
        assert!(out.contains(":: core :: result :: Result :: Ok (__dn_v)"), "{out}");
        assert!(out.contains(":: dn :: __private :: fail"), "{out}");
    }

    #[test]
    fn methods_do_not_log_self_and_references_skip_the_closure_annotation() {
        let out = expand_str(
            quote!(),
            quote!(
                fn f(&self, by: u32) -> &str {
                    "x"
                }
            ),
        );
        assert!(out.contains("__dn_call . input (\"by\""), "{out}");
        assert!(!out.contains("input (\"self\""), "{out}");
        assert!(!out.contains("move || -> & str"), "elided lifetimes are left to inference: {out}");
    }

    #[test]
    fn options_reach_the_generated_code() {
        let out = expand_str(
            quote!(name = "n", label = "L", type = "tool", tags = ["a"], entrypoint, crate = ::other::dn, log_inputs = [b], scorers = [s]),
            quote!(
                fn f(a: i32, b: i32) -> i32 {
                    a + b
                }
            ),
        );
        assert!(out.contains(":: other :: dn :: __private :: start"), "{out}");
        assert!(!out.contains(":: dn :: __private :: start") || out.contains(":: other :: dn"), "{out}");
        assert!(out.contains("name : \"n\""), "{out}");
        assert!(out.contains("SpanType :: Tool"), "{out}");
        assert!(out.contains("entrypoint : true"), "{out}");
        assert!(out.contains("input (\"b\""), "{out}");
        assert!(!out.contains("input (\"a\""), "{out}");
        assert!(out.contains("ScoreWrap (s (__dn_v))"), "{out}");
    }

    #[test]
    fn errors_keep_the_function_as_written() {
        let out = expand_str(
            quote!(bogus = 1),
            quote!(
                fn f(x: i32) -> i32 {
                    x
                }
            ),
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("fn f (x : i32) -> i32 { x }"), "the original function is kept: {out}");
    }
}
