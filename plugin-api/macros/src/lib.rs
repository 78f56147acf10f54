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
//! How each argument and result crosses is decided from how its type is spelled: primitives as they
//! are; `&str` and `&[u8]` arguments as pointer and length; `Vec<u8>`, `Bytes`, `Option<Vec<u8>>`,
//! `Option<&[u8]>` (arguments only), `Vec<Vec<u8>>`, `Duration` and `SystemTime` in the compact raw
//! forms of `ecdysis_plugin_api::crossing::RawForm`; any other type as MessagePack, after an
//! assertion that it has serde's traits (`crossing::CrossesAsMessagePack`), so that a type without
//! them is refused first with a message that names the boundary. Results are always copied into
//! memory of the caller. Types that cannot cross (channels, references in results, `&mut`,
//! `impl Trait`, trait objects, closures, function pointers, raw pointers) and `async` or generic
//! methods are refused with "`T` cannot cross the plugin boundary because *reason*; *way out*"
//! at their span. The table, with every spelling recognised, is in the crate documentation of
//! `ecdysis_plugin_api` ("What crosses the boundary, and how").
//!
//! The fingerprint covers every signature as written, with " as raw" after each type that crosses
//! in a raw form, so that a plugin built when that type crossed as MessagePack is refused at load.
//! (`Vec<u8>` results crossed raw before the other raw forms and are not marked.)

#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
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
    /// A type with a raw form (`ecdysis_plugin_api::crossing::RawForm`): byte buffers and times.
    /// `by_reference` when the argument is `&T`.
    Raw { by_reference: bool, owned: Type },
}

fn is_primitive(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.get_ident().is_some_and(|ident| PRIMITIVES.contains(&ident.to_string().as_str())))
}

/// The only type argument of `ty` when it is a path ending in `name<T>`, e.g. `Option<T>` or
/// `std::option::Option<T>`.
fn single_type_argument<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if path.qself.is_some() || last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else { return None };
    match arguments.args.first() {
        Some(syn::GenericArgument::Type(element)) if arguments.args.len() == 1 => Some(element),
        _ => None,
    }
}

fn is_u8(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident("u8"))
}

fn is_byte_vector(ty: &Type) -> bool {
    single_type_argument(ty, "Vec").is_some_and(is_u8)
}

/// Whether `ty` is the path `name` alone or a path whose segment before `name` is one of
/// `modules`, with no generic arguments anywhere: `Duration`, `std::time::Duration`,
/// `core::time::Duration`.
fn is_named(ty: &Type, name: &str, modules: &[&str]) -> bool {
    let Type::Path(path) = ty else { return false };
    let segments: Vec<_> = path.path.segments.iter().collect();
    if path.qself.is_some() || segments.iter().any(|segment| !segment.arguments.is_none()) {
        return false;
    }
    match segments.as_slice() {
        [only] => path.path.leading_colon.is_none() && only.ident == name,
        [.., module, last] => last.ident == name && modules.iter().any(|allowed| module.ident == allowed),
        [] => false,
    }
}

/// Whether `ty` is spelled as one of the types that cross in raw form (see the crate documentation
/// of `ecdysis_plugin_api` for the list of spellings). `Option<&[u8]>` is among them only for
/// arguments; in a result it is refused as a reference.
fn has_raw_form(ty: &Type) -> bool {
    let is_byte_slice_reference = |ty: &Type| matches!(ty, Type::Reference(reference) if reference.mutability.is_none() && matches!(&*reference.elem, Type::Slice(slice) if is_u8(&slice.elem)));
    is_byte_vector(ty)
        || is_named(ty, "Bytes", &["bytes", "crossing"])
        || is_named(ty, "Duration", &["time"])
        || is_named(ty, "SystemTime", &["time"])
        || single_type_argument(ty, "Option").is_some_and(|inner| is_byte_vector(inner) || is_byte_slice_reference(inner))
        || single_type_argument(ty, "Vec").is_some_and(is_byte_vector)
}

/// Where a type appears in a signature, which decides whether it may borrow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Argument,
    Result,
}

/// `ty` as a reader would write it: `Option<&[u8]>` rather than `Option < & [u8] >`.
fn spelled(ty: &Type) -> String {
    let mut text = quote!(#ty).to_string();
    for (from, to) in [
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" :: ", "::"),
        (":: ", "::"),
        ("& ", "&"),
        (" ,", ","),
        (" (", "("),
        ("* ", "*"),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// The error for a type that cannot cross: "`T` cannot cross the plugin boundary because
/// *reason*; *way out*", at the span of the type.
fn refusal(ty: &Type, reason: &str, way_out: &str) -> syn::Error {
    syn::Error::new(ty.span(), format!("`{}` cannot cross the plugin boundary because {reason}; {way_out}", spelled(ty)))
}

const CHANNEL_ENDS: &[&str] =
    &["Sender", "Receiver", "SyncSender", "UnboundedSender", "UnboundedReceiver", "WeakSender", "WeakUnboundedSender"];
const CLOSURE_TRAITS: &[&str] = &["Fn", "FnMut", "FnOnce", "AsyncFn", "AsyncFnMut", "AsyncFnOnce"];
const SMART_POINTERS: &[&str] = &["Box", "Arc", "Rc"];

fn is_closure_bound(bounds: &syn::punctuated::Punctuated<syn::TypeParamBound, syn::Token![+]>) -> bool {
    bounds.iter().any(|bound| {
        matches!(bound, syn::TypeParamBound::Trait(bound) if bound.path.segments.last().is_some_and(|last| CLOSURE_TRAITS.iter().any(|name| last.ident == name)))
    })
}

/// Refuses `ty` when it, or a type inside it, cannot cross the boundary: channels, trait objects,
/// `impl Trait`, function pointers and closures, raw pointers, `&mut`, and references in results.
fn refuse_what_cannot_cross(ty: &Type, position: Position) -> syn::Result<()> {
    match ty {
        Type::Reference(reference) => {
            if position == Position::Result {
                return Err(refusal(
                    ty,
                    "a result must be owned by the caller (the plugin may be unloaded)",
                    "return `String`, `Vec<u8>` or an owned `T`",
                ));
            }
            if reference.mutability.is_some() {
                return Err(refusal(ty, "the plugin cannot write into the caller's memory", "take `&T` and return the new value"));
            }
            refuse_what_cannot_cross(&reference.elem, position)
        }
        Type::Ptr(_) => Err(refusal(
            ty,
            "a pointer into the memory of one side means nothing to the other, nor after an update",
            "pass the data itself (`&[u8]`, `Vec<u8>`, `T`)",
        )),
        Type::BareFn(_) => Err(refusal(
            ty,
            "a function pointer points into the code of one side, which may be unloaded",
            "add a method to the interface and call it instead",
        )),
        Type::ImplTrait(syn::TypeImplTrait { bounds, .. }) | Type::TraitObject(syn::TypeTraitObject { bounds, .. })
            if is_closure_bound(bounds) =>
        {
            Err(refusal(
                ty,
                "a closure's code and captures live on one side, which may be unloaded",
                "pass data and add a method to the interface for what the closure would do",
            ))
        }
        Type::ImplTrait(_) => Err(refusal(
            ty,
            "it stands for a type that only one side's compiler knows",
            "name a concrete owned type (a struct deriving serde's `Serialize` and `Deserialize`)",
        )),
        Type::TraitObject(_) => Err(refusal(
            ty,
            "a trait object's methods are code of one side, which may be unloaded",
            "pass data (a struct deriving serde's traits) and call methods of the interface",
        )),
        Type::Path(path) => {
            let Some(last) = path.path.segments.last() else { return Ok(()) };
            if CHANNEL_ENDS.iter().any(|name| last.ident == name) {
                return Err(refusal(ty, "a channel is tied to memory and threads of one side", "return data, or poll through a method"));
            }
            if SMART_POINTERS.iter().any(|name| last.ident == name)
                && let Some(Type::TraitObject(object)) = single_type_argument(ty, &last.ident.to_string())
            {
                return Err(if is_closure_bound(&object.bounds) {
                    refusal(
                        ty,
                        "a closure's code and captures live on one side, which may be unloaded",
                        "pass data and add a method to the interface for what the closure would do",
                    )
                } else {
                    refusal(
                        ty,
                        "a trait object's methods are code of one side, which may be unloaded",
                        "pass data (a struct deriving serde's traits) and call methods of the interface",
                    )
                });
            }
            for segment in &path.path.segments {
                if let syn::PathArguments::AngleBracketed(arguments) = &segment.arguments {
                    for argument in &arguments.args {
                        if let syn::GenericArgument::Type(inner) = argument {
                            refuse_what_cannot_cross(inner, position)?;
                        }
                    }
                }
            }
            Ok(())
        }
        Type::Tuple(tuple) => tuple.elems.iter().try_for_each(|element| refuse_what_cannot_cross(element, position)),
        Type::Array(array) => refuse_what_cannot_cross(&array.elem, position),
        Type::Slice(slice) => refuse_what_cannot_cross(&slice.elem, position),
        Type::Paren(paren) => refuse_what_cannot_cross(&paren.elem, position),
        Type::Group(group) => refuse_what_cannot_cross(&group.elem, position),
        _ => Ok(()),
    }
}

fn classify_argument(ty: &Type) -> syn::Result<Crossing> {
    refuse_what_cannot_cross(ty, Position::Argument)?;
    if is_primitive(ty) {
        return Ok(Crossing::Primitive);
    }
    if has_raw_form(ty) {
        return Ok(Crossing::Raw { by_reference: false, owned: ty.clone() });
    }
    if let Type::Reference(reference) = ty {
        match &*reference.elem {
            Type::Path(path) if path.path.is_ident("str") => return Ok(Crossing::Str),
            Type::Slice(slice) if is_u8(&slice.elem) => return Ok(Crossing::Bytes),
            elem if has_raw_form(elem) => return Ok(Crossing::Raw { by_reference: true, owned: elem.clone() }),
            elem => return Ok(Crossing::MessagePack { by_reference: true, owned: elem.clone() }),
        }
    }
    Ok(Crossing::MessagePack { by_reference: false, owned: ty.clone() })
}

fn classify_result(output: &ReturnType) -> syn::Result<Crossing> {
    match output {
        ReturnType::Default => Ok(Crossing::Unit),
        ReturnType::Type(_, ty) => {
            refuse_what_cannot_cross(ty, Position::Result)?;
            match &**ty {
                Type::Tuple(tuple) if tuple.elems.is_empty() => Ok(Crossing::Unit),
                ty if is_primitive(ty) => Ok(Crossing::Primitive),
                // Kept apart from the other raw forms: it crossed as raw bytes before them, so its
                // fingerprint stays the same.
                ty if is_byte_vector(ty) => Ok(Crossing::RawBytes),
                ty if has_raw_form(ty) => Ok(Crossing::Raw { by_reference: false, owned: ty.clone() }),
                ty => Ok(Crossing::MessagePack { by_reference: false, owned: ty.clone() }),
            }
        }
    }
}

/// Refuses the methods the boundary cannot carry: `async`, generic, variadic and `unsafe` ones.
fn refuse_unplain_method(signature: &syn::Signature) -> syn::Result<()> {
    let name = &signature.ident;
    if let Some(asyncness) = &signature.asyncness {
        return Err(syn::Error::new(
            asyncness.span(),
            format!(
                "`async fn {name}` cannot cross the plugin boundary because a future is tied to the memory and the executor of one side; make it a plain `fn` (the host can call it from async code)"
            ),
        ));
    }
    if !signature.generics.params.is_empty() {
        return Err(syn::Error::new(
            signature.generics.span(),
            format!(
                "generic method `{name}` cannot cross the plugin boundary because the plugin is compiled before a caller picks its type arguments; use concrete types"
            ),
        ));
    }
    if signature.variadic.is_some() || signature.unsafety.is_some() {
        return Err(syn::Error::new(signature.span(), "interface methods must be plain, non-generic, non-async, safe functions"));
    }
    Ok(())
}

fn expand(item_trait: &ItemTrait, id: Option<LitStr>) -> syn::Result<TokenStream2> {
    let api = quote!(::ecdysis_plugin_api);
    let private = quote!(#api::__private);
    let crossing_module = quote!(#api::crossing);
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
    let mut message_pack_types: Vec<Type> = Vec::new(); // every type that crosses as MessagePack

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
        refuse_unplain_method(signature)?;
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
            let crossing = classify_argument(ty)?;
            // Arguments that now cross in raw form are marked, so that the fingerprint tells a
            // plugin built when they crossed as MessagePack from one built since.
            let raw_mark = if matches!(crossing, Crossing::Raw { .. }) { " as raw" } else { "" };
            argument_types.push(format!("{}{raw_mark}", quote!(#ty)));
            proxy_params.push(quote!(#name: #ty));
            let (abi_type, record_value, decode, call_argument) = match crossing {
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
                Crossing::Raw { by_reference, owned } => {
                    let scratch = format_ident!("__ecdysis_scratch_{}", name);
                    let lent = format_ident!("__ecdysis_lent_{}", name);
                    let borrow = if by_reference { quote!(#name) } else { quote!(&#name) };
                    proxy_prelude.push(quote! {
                        let mut #scratch = ::std::vec::Vec::new();
                        let #lent: &[u8] = #crossing_module::lend_raw(#borrow, &mut #scratch);
                    });
                    let pass = if by_reference { quote!(&#name) } else { quote!(#name) };
                    (
                        quote!(#private::RawSlice<'call, u8>),
                        quote!(#private::RawSlice::new(#lent)),
                        quote! {
                            let #name: #owned = #crossing_module::decode_raw(arguments.#name.as_slice()).map_err(#private::ShimFailure::Codec)?;
                        },
                        pass,
                    )
                }
                Crossing::MessagePack { by_reference, owned } => {
                    message_pack_types.push(owned.clone());
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
        let raw_mark = if matches!(result, Crossing::Raw { .. }) { " as raw" } else { "" };
        canonical.push_str(&format!("{}({})->{}{raw_mark};", method_name, argument_types.join(","), result_type));
        if let Crossing::MessagePack { owned, .. } = &result {
            message_pack_types.push(owned.clone());
        }

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
            Crossing::Raw { owned, .. } => (
                quote!(#private::OutputBytes),
                quote!(Ok(#private::OutputBytes(#crossing_module::encode_raw(&result)))),
                Some(quote!(#crossing_module::decode_raw::<#owned>(&output.0).map_err(|message| #private::CallError::Codec { message }))),
            ),
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
    // Asserted before anything uses them, so that a type without serde's traits is refused first
    // with a message that names the boundary, at the span of the type.
    let message_pack_assertions =
        message_pack_types.iter().map(|owned| quote_spanned!(owned.span()=> #crossing_module::assert_crosses_as_message_pack::<#owned>();));
    Ok(quote! {
        #item_trait

        const _: () = {
            #[allow(dead_code)]
            fn every_type_crosses_as_message_pack() {
                #(#message_pack_assertions)*
            }
        };

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The message `expand` refuses `item_trait` with.
    fn refusal_of(item_trait: ItemTrait) -> String {
        match expand(&item_trait, None) {
            Ok(_) => panic!("`{}` was accepted", item_trait.ident),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn each_type_that_cannot_cross_is_refused_with_the_rule_and_the_way_out() {
        let check = |item_trait: ItemTrait, expected: &str| assert_eq!(refusal_of(item_trait), expected);
        check(
            syn::parse_quote!(
                trait Events {
                    fn subscribe(&self, to: std::sync::mpsc::Sender<u64>);
                }
            ),
            "`std::sync::mpsc::Sender<u64>` cannot cross the plugin boundary because a channel is tied to memory and threads of one side; return data, or poll through a method",
        );
        check(
            syn::parse_quote!(
                trait Events {
                    fn events(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<String>>;
                }
            ),
            "`tokio::sync::mpsc::UnboundedReceiver<String>` cannot cross the plugin boundary because a channel is tied to memory and threads of one side; return data, or poll through a method",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn get(&self, key: &[u8]) -> &[u8];
                }
            ),
            "`&[u8]` cannot cross the plugin boundary because a result must be owned by the caller (the plugin may be unloaded); return `String`, `Vec<u8>` or an owned `T`",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn get(&self, key: &[u8]) -> Option<&str>;
                }
            ),
            "`&str` cannot cross the plugin boundary because a result must be owned by the caller (the plugin may be unloaded); return `String`, `Vec<u8>` or an owned `T`",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn get(&self, key: &[u8]) -> Option<&[u8]>;
                }
            ),
            "`&[u8]` cannot cross the plugin boundary because a result must be owned by the caller (the plugin may be unloaded); return `String`, `Vec<u8>` or an owned `T`",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn keys(&self) -> impl Iterator<Item = String>;
                }
            ),
            "`impl Iterator<Item = String>` cannot cross the plugin boundary because it stands for a type that only one side's compiler knows; name a concrete owned type (a struct deriving serde's `Serialize` and `Deserialize`)",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn each(&self, visit: impl Fn(&[u8]));
                }
            ),
            "`impl Fn(&[u8])` cannot cross the plugin boundary because a closure's code and captures live on one side, which may be unloaded; pass data and add a method to the interface for what the closure would do",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn each(&self, visit: Box<dyn FnMut(u64) + Send>);
                }
            ),
            "`Box<dyn FnMut(u64) + Send>` cannot cross the plugin boundary because a closure's code and captures live on one side, which may be unloaded; pass data and add a method to the interface for what the closure would do",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn error(&self) -> Box<dyn std::error::Error>;
                }
            ),
            "`Box<dyn std::error::Error>` cannot cross the plugin boundary because a trait object's methods are code of one side, which may be unloaded; pass data (a struct deriving serde's traits) and call methods of the interface",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn show(&self, value: &dyn std::fmt::Debug);
                }
            ),
            "`dyn std::fmt::Debug` cannot cross the plugin boundary because a trait object's methods are code of one side, which may be unloaded; pass data (a struct deriving serde's traits) and call methods of the interface",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn on_change(&self, callback: fn(u64) -> bool);
                }
            ),
            "`fn(u64) -> bool` cannot cross the plugin boundary because a function pointer points into the code of one side, which may be unloaded; add a method to the interface and call it instead",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn buffer(&self) -> *const u8;
                }
            ),
            "`*const u8` cannot cross the plugin boundary because a pointer into the memory of one side means nothing to the other, nor after an update; pass the data itself (`&[u8]`, `Vec<u8>`, `T`)",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn fill(&self, out: &mut Vec<u8>);
                }
            ),
            "`&mut Vec<u8>` cannot cross the plugin boundary because the plugin cannot write into the caller's memory; take `&T` and return the new value",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    async fn get(&self, key: String) -> Vec<u8>;
                }
            ),
            "`async fn get` cannot cross the plugin boundary because a future is tied to the memory and the executor of one side; make it a plain `fn` (the host can call it from async code)",
        );
        check(
            syn::parse_quote!(
                trait Store {
                    fn get<K: AsRef<[u8]>>(&self, key: K) -> Vec<u8>;
                }
            ),
            "generic method `get` cannot cross the plugin boundary because the plugin is compiled before a caller picks its type arguments; use concrete types",
        );
    }

    /// The canonical signature string the fingerprint is computed from.
    fn canonical_of(item_trait: ItemTrait) -> String {
        let tokens = expand(&item_trait, None).unwrap().to_string();
        let start = tokens.find("canonical :").expect("the expansion names its canonical signatures") + "canonical :".len();
        let literal = tokens[start..].split(" , methods").next().unwrap().trim();
        syn::parse_str::<LitStr>(literal).unwrap().value()
    }

    #[test]
    fn raw_forms_change_the_fingerprint_and_nothing_else_does() {
        // The signatures of an interface without raw forms read as they did before them, so the
        // plugins built then keep loading.
        assert_eq!(
            canonical_of(syn::parse_quote!(
                trait Counter {
                    fn increment(&self, key: &str, by: i64) -> i64;
                    fn value(&self, key: &str) -> Option<i64>;
                    fn dump(&self) -> Vec<u8>;
                }
            )),
            "ecdysis-interface/3;increment(& str,i64)->i64;value(& str)->Option < i64 >;dump()->Vec < u8 >;"
        );
        // Those with raw forms are marked, so a plugin built when they crossed as MessagePack is
        // refused by the fingerprint instead of misread.
        assert_eq!(
            canonical_of(syn::parse_quote!(
                trait Store {
                    fn put(&self, key: Vec<u8>, value: Option<Vec<u8>>, ttl: std::time::Duration) -> Option<Vec<u8>>;
                    fn at(&self) -> SystemTime;
                }
            )),
            "ecdysis-interface/3;put(Vec < u8 > as raw,Option < Vec < u8 > > as raw,std :: time :: Duration as raw)->Option < Vec < u8 > > as raw;at()->SystemTime as raw;"
        );
    }

    #[test]
    fn raw_forms_are_recognised_by_these_spellings_only() {
        let raw = |ty: Type| has_raw_form(&ty);
        let crossing_raw: Vec<Type> = vec![
            syn::parse_quote!(Vec<u8>),
            syn::parse_quote!(std::vec::Vec<u8>),
            syn::parse_quote!(Bytes),
            syn::parse_quote!(bytes::Bytes),
            syn::parse_quote!(::bytes::Bytes),
            syn::parse_quote!(ecdysis_plugin_api::crossing::Bytes),
            syn::parse_quote!(Option<Vec<u8>>),
            syn::parse_quote!(Option<&[u8]>),
            syn::parse_quote!(std::option::Option<Vec<u8>>),
            syn::parse_quote!(Vec<Vec<u8>>),
            syn::parse_quote!(Duration),
            syn::parse_quote!(std::time::Duration),
            syn::parse_quote!(core::time::Duration),
            syn::parse_quote!(SystemTime),
            syn::parse_quote!(std::time::SystemTime),
        ];
        for ty in crossing_raw {
            assert!(raw(ty.clone()), "`{}` should cross in raw form", spelled(&ty));
        }
        let crossing_as_message_pack: Vec<Type> = vec![
            syn::parse_quote!(Vec<u16>),
            syn::parse_quote!(Option<String>),
            syn::parse_quote!(chrono::Duration),
            syn::parse_quote!(my::Bytes),
            syn::parse_quote!(Vec<Vec<Vec<u8>>>),
            syn::parse_quote!(Option<Option<Vec<u8>>>),
        ];
        for ty in crossing_as_message_pack {
            assert!(!raw(ty.clone()), "`{}` should cross as MessagePack", spelled(&ty));
        }
    }
}
