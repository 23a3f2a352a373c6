defmodule Realtime.ETF do
  @moduledoc """
  Erlang External Term Format in the dialect of Discord's erlpack: the
  encoding the gateway sends to clients that ask for `encoding=etf`, and
  a decoder that is safe on hostile bytes from the internet.

  ## Encoding

  `encode/2` writes what `:erlang.term_to_binary/1` would decode back to the
  same term, with erlpack's choices: ASCII atoms as SMALL_ATOM_EXT (tag 115,
  which erlpack's decoders read), other atoms as UTF-8 atoms, floats as
  NEW_FLOAT_EXT, binaries as BINARY_EXT, lists as LIST_EXT (STRING_EXT only
  with `string_ext: true`), and maps as MAP_EXT with keys in term order.
  Pids, references, ports and funs are written in OTP's own encoding, so they
  round-trip exactly.

  ## Decoding untrusted input

  `decode/2` never raises on bad bytes and never crashes the VM: it returns
  `{:error, {reason, byte_offset}}`. It never recurses, and never creates
  atoms unless asked: an atom that does not exist yet comes back as a binary
  of its name (with `atoms: :create` it is created). Limits, checked before
  the work they guard:

  | option | default | what it bounds |
  | --- | --- | --- |
  | `:max_size` | 64 MiB | input bytes |
  | `:max_depth` | 512 | nesting of tuples, lists and maps |
  | `:max_decompressed` | 64 MiB | declared size of a compressed term, refused before inflating |
  | `:max_length` | 16,777,216 | elements of one list or tuple, pairs of one map |
  | `:max_binary` | 64 MiB | bytes of one binary, string or bignum |

  Reasons: `:truncated`, `:bad_version`, `:bad_tag`, `:trailing_bytes`,
  `:input_too_large`, `:too_deep`, `:too_long`, `:binary_too_large`,
  `:decompressed_too_large`, `:bad_compression`, `:not_finite`, `:bad_float`,
  `:bad_atom`, `:duplicate_key`.

  Binaries of 64 bytes or more in the result are sub-binaries of the input
  (no copy); they keep the input alive while referenced.

  Inputs and outputs above about 64 KiB are handled on a dirty scheduler, so
  no call holds a normal scheduler for more than a fraction of a millisecond.
  """

  require Realtime.Metrics, as: Metrics

  alias Realtime.Native

  @type decode_error ::
          {:error, {atom, non_neg_integer}}

  @limits [
    max_size: 64 * 1024 * 1024,
    max_depth: 512,
    max_decompressed: 64 * 1024 * 1024,
    max_length: 16 * 1024 * 1024,
    max_binary: 64 * 1024 * 1024
  ]

  @doc """
  Encodes `term`. Options: `compressed: level` (0..9, or `true` for 6) for
  the zlib-compressed form (tag 80); `string_ext: true` to write lists of
  bytes as STRING_EXT.
  """
  @spec encode(term, keyword) :: binary
  def encode(term, opts \\ [])

  # The common case, without option parsing.
  def encode(term, []) do
    case Native.etf_encode(term, -1, false) do
      bin when is_binary(bin) -> bin
      :reschedule -> Metrics.inc(:dirty, "etf") && encoded(Native.etf_encode_dirty(term, -1, false))
      other -> encoded(other)
    end
  end

  def encode(term, opts) do
    level = compression(Keyword.get(opts, :compressed, false))
    string_ext = Keyword.get(opts, :string_ext, false) == true

    case Native.etf_encode(term, level, string_ext) do
      :reschedule -> Metrics.inc(:dirty, "etf") && Native.etf_encode_dirty(term, level, string_ext) |> encoded()
      result -> encoded(result)
    end
  end

  defp encoded(bin) when is_binary(bin), do: bin
  defp encoded({:error, reason}), do: raise(ArgumentError, "cannot encode as ETF: #{inspect(reason)}")

  defp compression(false), do: -1
  defp compression(true), do: 6
  defp compression(level) when level in 0..9, do: level

  defp compression(other),
    do: raise(ArgumentError, "compressed: expects a level 0..9 or a boolean, got: #{inspect(other)}")

  @doc """
  Decodes one term. Returns `{:ok, term}`, or with `return_used: true`
  `{:ok, term, bytes_used}` and trailing bytes allowed; otherwise
  `{:error, {reason, byte_offset}}`.

  Options: the limits in the module doc, and `atoms: :existing` (default) or
  `atoms: :create`.
  """
  @spec decode(binary, keyword) :: {:ok, term} | {:ok, term, non_neg_integer} | decode_error
  def decode(binary, opts \\ [])

  def decode(binary, opts) when is_binary(binary) do
    limits = Realtime.CodecLimits.to_tuple(opts, @limits)
    create = Keyword.get(opts, :atoms, :existing) == :create
    used = Keyword.get(opts, :return_used, false) == true

    case Native.etf_decode(binary, limits, create, used) do
      :reschedule -> Metrics.inc(:dirty, "etf") && Native.etf_decode_dirty(binary, limits, create, used)
      result -> result
    end
  end

  def decode(other, _opts), do: raise(ArgumentError, "expected a binary, got: #{inspect(other)}")
end
