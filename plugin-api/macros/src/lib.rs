//! The `#[interface]` attribute: turns a plain Rust trait into an ecdysis module interface.
//!
//! For a trait `Counter` it generates, next to the unchanged trait:
//! - for each method, a `#[repr(C)]` record of its arguments as they cross, and a type describing
//!   it (`Signature`) with its plugin-side body (`MethodBody`: decode, call, encode);
//! - `CounterTable`, the `#[repr(C)]` table of the plugin's panic-catching method shims;
//! - `CounterProxy`, the host-side typed caller that returns `Result<_, CallError>`;
//! - `impl Interface for dyn Counter` with the interface id and a fingerprint of every signature,
//!   and `impl Implementation<P> for dyn Counter`, which builds the table for a plugin type `P`.
//!
//! The generated code contains no `unsafe` block: the shims, the table entries and the calls
//! through them are generic code in `ecdysis_plugin_api::ffi`, the one module where the plugin API
//! crosses the boundary.
//!
//! Arguments cross as they are when they are primitives (`u8`..`u64`, `i8`..`i64`, `usize`,
//! `isize`, `f32`, `f64`, `bool`), as pointer and length when they are `&str` or `&[u8]`, and as
//! MessagePack otherwise. Results cross as they are when primitive, as raw bytes when `Vec<u8>`, and
//! as MessagePack otherwise, always copied into memory of the caller.

#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{FnArg, ItemTrait, LitStr, Pat, ReturnType, TraitItem, Type};

/// Marks a trait as an ecdysis module interface. See the crate documentation of
/// `ecdysis_plugin_api` for what it generates; `#[interface(id = "name")]` sets the interface id,
/// which defaults to the trait's name.
#[proc_macro_attribute]
pub fn interface(attribute: TokenStream, item: TokenStream) -> TokenStream {
    let item_trait = syn::parse_macro_input!(item as ItemTrait);
    let mut id: Option<LitStr> = None;
    if !attribute.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("id") {
                id = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("unknown interface option; the only option is `id = \"...\"`"))
            }
        });
        syn::parse_macro_input!(attribute with parser);
    }
    match expand(&item_trait, id) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

const PRIMITIVES: &[&str] = &["u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", "f32", "f64", "bool"];

/// How one argument or result crosses the boundary.
#[allow(clippy::large_enum_variant)] // Compile-time only, a handful per method.
enum Crossing {
    /// Passed by value, unchanged.
    Primitive,
    /// `&str` as a `RawStr`.
    Str,
    /// `&[u8]` as a `RawSlice<u8>`.
    Bytes,
    /// Any serde type as MessagePack bytes; `by_reference` when the argument is `&T`.
    MessagePack { by_reference: bool, owned: Type },
    /// `()` or no return type.
    Unit,
    /// A `Vec<u8>` result, copied out as it is (MessagePack would make it an array of integers).
    RawBytes,
}

fn is_primitive(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.get_ident().is_some_and(|ident| PRIMITIVES.contains(&ident.to_string().as_str())))
}

fn is_byte_vector(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    let Some(last) = path.path.segments.last() else { return false };
    if path.qself.is_some() || last.ident != "Vec" {
        return false;
    }
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else { return false };
    matches!(arguments.args.first(), Some(syn::GenericArgument::Type(Type::Path(element))) if arguments.args.len() == 1 && element.path.is_ident("u8"))
}

fn classify_argument(ty: &Type) -> syn::Result<Crossing> {
    if is_primitive(ty) {
        return Ok(Crossing::Primitive);
    }
    if let Type::Reference(reference) = ty {
        if reference.mutability.is_some() {
            return Err(syn::Error::new(
                ty.span(),
                "interface methods cannot take `&mut` arguments; the plugin cannot write into the caller's memory",
            ));
        }
        match &*reference.elem {
            Type::Path(path) if path.path.is_ident("str") => return Ok(Crossing::Str),
            Type::Slice(slice) if matches!(&*slice.elem, Type::Path(path) if path.path.is_ident("u8")) => return Ok(Crossing::Bytes),
            elem => return Ok(Crossing::MessagePack { by_reference: true, owned: elem.clone() }),
        }
    }
    Ok(Crossing::MessagePack { by_reference: false, owned: ty.clone() })
}

fn classify_result(output: &ReturnType) -> syn::Result<Crossing> {
    match output {
        ReturnType::Default => Ok(Crossing::Unit),
        ReturnType::Type(_, ty) => match &**ty {
            Type::Tuple(tuple) if tuple.elems.is_empty() => Ok(Crossing::Unit),
            Type::Reference(_) => Err(syn::Error::new(
                ty.span(),
                "interface methods cannot return references; return an owned value, which is copied to the caller",
            )),
            ty if is_primitive(ty) => Ok(Crossing::Primitive),
            ty if is_byte_vector(ty) => Ok(Crossing::RawBytes),
            ty => Ok(Crossing::MessagePack { by_reference: false, owned: ty.clone() }),
        },
    }
}

fn expand(item_trait: &ItemTrait, id: Option<LitStr>) -> syn::Result<TokenStream2> {
    let api = quote!(::ecdysis_plugin_api);
    let private = quote!(#api::__private);
    let vis = &item_trait.vis;
    let trait_name = &item_trait.ident;
    if !item_trait.generics.params.is_empty() {
        return Err(syn::Error::new(item_trait.generics.span(), "interface traits cannot be generic"));
    }
    let id = id.unwrap_or_else(|| LitStr::new(&trait_name.to_string(), Span::call_site()));
    let table_name = format_ident!("{}Table", trait_name);
    let proxy_name = format_ident!("{}Proxy", trait_name);

    let mut canonical = String::from("ecdysis-interface/3;");
    let mut table_fields = Vec::new();
    let mut table_methods = Vec::new();
    let mut signatures = Vec::new();
    let mut proxy_methods = Vec::new();

    for item in &item_trait.items {
        let TraitItem::Fn(method) = item else {
            return Err(syn::Error::new(item.span(), "interface traits may contain only methods"));
        };
        let signature = &method.sig;
        if method.default.is_some() {
            return Err(syn::Error::new(
                method.span(),
                "interface methods cannot have a default body; every version implements every method",
            ));
        }
        if !signature.generics.params.is_empty()
            || signature.asyncness.is_some()
            || signature.variadic.is_some()
            || signature.unsafety.is_some()
        {
            return Err(syn::Error::new(signature.span(), "interface methods must be plain, non-generic, non-async, safe functions"));
        }
        let mut inputs = signature.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(receiver)) if receiver.reference.is_some() && receiver.mutability.is_none() => {}
            _ => return Err(syn::Error::new(signature.span(), "interface methods take `&self`; the plugin guards its own state")),
        }
        let method_name = &signature.ident;
        let signature_name = format_ident!("__ecdysis_{}_{}", trait_name, method_name);
        let arguments_name = format_ident!("__ecdysis_{}_{}_arguments", trait_name, method_name);
        let docs: Vec<_> = method.attrs.iter().filter(|attribute| attribute.path().is_ident("doc")).collect();

        let mut record_fields = Vec::new(); // `name: AbiType<'call>` in the argument record
        let mut proxy_params = Vec::new(); // `name: UserType` in the proxy
        let mut proxy_prelude = Vec::new(); // encoding of MessagePack arguments
        let mut record_values = Vec::new(); // `name: expression` filling the record in the proxy
        let mut body_prelude = Vec::new(); // decoding in the plugin's method body
        let mut call_arguments = Vec::new(); // expressions passed to the trait method
        let mut argument_types = Vec::new();

        for input in inputs {
            let FnArg::Typed(typed) = input else { unreachable!("only the first argument can be a receiver") };
            let Pat::Ident(pattern) = &*typed.pat else {
                return Err(syn::Error::new(typed.pat.span(), "interface arguments must be plain names"));
            };
            let name = &pattern.ident;
            let ty = &typed.ty;
            argument_types.push(quote!(#ty).to_string());
            proxy_params.push(quote!(#name: #ty));
            let (abi_type, record_value, decode, call_argument) = match classify_argument(ty)? {
                Crossing::Primitive => (quote!(#ty), quote!(#name), quote!(let #name = arguments.#name;), quote!(#name)),
                Crossing::Str => (
                    quote!(#private::RawStr<'call>),
                    quote!(#private::RawStr::new(#name)),
                    quote!(let #name: &str = arguments.#name.as_str();),
                    quote!(#name),
                ),
                Crossing::Bytes => (
                    quote!(#private::RawSlice<'call, u8>),
                    quote!(#private::RawSlice::new(#name)),
                    quote!(let #name: &[u8] = arguments.#name.as_slice();),
                    quote!(#name),
                ),
                Crossing::MessagePack { by_reference, owned } => {
                    let encoded = format_ident!("__ecdysis_encoded_{}", name);
                    let borrow = if by_reference { quote!(#name) } else { quote!(&#name) };
                    proxy_prelude.push(quote! {
                        let #encoded = #private::encode(#borrow).map_err(|message| #private::CallError::Codec { message })?;
                    });
                    let pass = if by_reference { quote!(&#name) } else { quote!(#name) };
                    (
                        quote!(#private::RawSlice<'call, u8>),
                        quote!(#private::RawSlice::new(&#encoded)),
                        quote! {
                            let #name: #owned = #private::decode(arguments.#name.as_slice()).map_err(#private::ShimFailure::Codec)?;
                        },
                        pass,
                    )
                }
                Crossing::Unit | Crossing::RawBytes => unreachable!("arguments are never unit or raw byte results"),
            };
            record_fields.push(quote!(pub #name: #abi_type,));
            record_values.push(quote!(#name: #record_value,));
            body_prelude.push(decode);
            call_arguments.push(call_argument);
        }

        let result = classify_result(&signature.output)?;
        let result_type = match &signature.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) => quote!(#ty),
        };
        canonical.push_str(&format!("{}({})->{};", method_name, argument_types.join(","), result_type));

        // How the result crosses: its `Output` type, how the plugin's body produces it, and how the
        // proxy turns it back into the method's result type.
        let (output_type, produce, finish) = match &result {
            Crossing::Unit => (quote!(()), quote!(Ok(())), None),
            Crossing::Primitive => (quote!(#result_type), quote!(Ok(result)), None),
            Crossing::MessagePack { owned, .. } => (
                quote!(#private::OutputBytes),
                quote!(Ok(#private::OutputBytes(#private::encode(&result).map_err(#private::ShimFailure::Codec)?))),
                Some(quote!(#private::decode::<#owned>(&output.0).map_err(|message| #private::CallError::Codec { message }))),
            ),
            Crossing::RawBytes => (quote!(#private::OutputBytes), quote!(Ok(#private::OutputBytes(result))), Some(quote!(Ok(output.0)))),
            Crossing::Str | Crossing::Bytes => unreachable!("results are classified as unit, primitive, raw bytes or MessagePack"),
        };
        let unit_result = matches!(result, Crossing::Unit);
        // Results that cross as they are come back as they are; the others are decoded.
        let call = quote!(self.bound.call(|table| &table.#method_name, &arguments));
        let call_and_finish = match finish {
            None => call,
            Some(finish) => quote! {
                let output = #call?;
                #finish
            },
        };
        let bind_result = if unit_result { quote!(let () =) } else { quote!(let result =) };

        signatures.push(quote! {
            #[doc = concat!("The arguments of `", stringify!(#trait_name), "::", stringify!(#method_name), "` as they cross the plugin boundary.")]
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #[repr(C)]
            #vis struct #arguments_name<'call> {
                #(#record_fields)*
                pub __call: ::core::marker::PhantomData<&'call ()>,
            }

            #[doc = concat!("The signature of `", stringify!(#trait_name), "::", stringify!(#method_name), "` at the plugin boundary.")]
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #vis enum #signature_name {}

            impl #private::Signature for #signature_name {
                type Arguments<'call> = #arguments_name<'call>;
                type Output = #output_type;
            }

            impl<P: #trait_name> #private::MethodBody<P> for #signature_name {
                #[inline]
                fn run(plugin: &P, arguments: &#arguments_name<'_>) -> ::core::result::Result<#output_type, #private::ShimFailure> {
                    #(#body_prelude)*
                    #bind_result <P as #trait_name>::#method_name(plugin, #(#call_arguments),*);
                    #produce
                }
            }
        });
        table_fields.push(quote! {
            #[doc = concat!("The plugin's `", stringify!(#method_name), "`.")]
            pub #method_name: #private::Method<#signature_name>,
        });
        table_methods.push(quote!(#method_name: #signature_name));
        proxy_methods.push(quote! {
            #(#docs)*
            ///
            /// # Errors
            /// When the plugin panics, or an argument or the result cannot be encoded or decoded.
            #[inline]
            pub fn #method_name(&self, #(#proxy_params),*) -> ::core::result::Result<#result_type, #private::CallError> {
                #(#proxy_prelude)*
                let arguments = #arguments_name { #(#record_values)* __call: ::core::marker::PhantomData };
                #call_and_finish
            }
        });
    }

    let table_doc = format!("The `#[repr(C)]` function table of [`{trait_name}`], generated by `#[ecdysis_plugin_api::interface]`.");
    let proxy_doc = format!(
        "Calls into the current version of a module that implements [`{trait_name}`]; every method returns `Err` instead of unwinding when the plugin panics."
    );
    Ok(quote! {
        #item_trait

        #(#signatures)*

        #[doc = #table_doc]
        #[repr(C)]
        #vis struct #table_name {
            #(#table_fields)*
        }

        #[doc = #proxy_doc]
        #vis struct #proxy_name<'call> {
            bound: #private::Bound<'call, #table_name>,
        }

        impl<'call> #proxy_name<'call> {
            #(#proxy_methods)*
        }

        #api::__implement_interface! {
            trait: #trait_name,
            table: #table_name,
            proxy: #proxy_name,
            id: #id,
            canonical: #canonical,
            methods: [#(#table_methods),*],
        }
    })
}
