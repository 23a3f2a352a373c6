defmodule Realtime.JSON do
  @moduledoc """
  JSON for the gateway and its REST API (OTP 25 has no `:json`, and Jason is
  a hex package): a Rust encoder and a bounded parser that is safe on
  hostile input.

  ## Encoding

  | Elixir | JSON |
  | --- | --- |
  | `nil`, `true`, `false` | `null`, `true`, `false` |
  | other atoms | strings |
  | integers (any size) | numbers; with `snowflakes_as_strings: true`, strings beyond ±2^53 |
  | floats | shortest text that reads back exactly |
  | binaries | strings; invalid UTF-8 raises |
  | lists | arrays |
  | maps | objects, with binary, atom or integer keys |

  Tuples, pids, references, ports, funs, bitstrings and improper lists raise
  `ArgumentError`, saying which term.

  ## Decoding

  `decode/2` returns `{:ok, term}` or `{:error, {reason, byte_offset}}`.
  Objects become maps with binary keys (the last of duplicate keys wins),
  integers keep full precision, and floats are correctly rounded.
  Strings of 64 bytes or more are sub-binaries of the input.

  Limits: `:max_size` (64 MiB), `:max_depth` (512), `:max_length` (elements
  per array or members per object, 16,777,216) and `:max_string` (bytes,
  64 MiB).

  Reasons: `:unexpected_end`, `:unexpected_byte`, `:invalid_number`,
  `:invalid_escape`, `:invalid_utf8`, `:lone_surrogate`,
  `:control_character`, `:too_deep`, `:too_long`, `:string_too_long`,
  `:input_too_large`, `:trailing_bytes`.

  Calls over about 64 KiB of input or output run on a dirty scheduler.
  """

  require Realtime.Metrics, as: Metrics

  alias Realtime.Native

  @limits [max_size: 64 * 1024 * 1024, max_depth: 512, max_length: 16 * 1024 * 1024, max_string: 64 * 1024 * 1024]

  @doc "Encodes `term` as a JSON binary. Option: `snowflakes_as_strings: true`."
  @spec encode(term, keyword) :: binary
  def encode(term, opts \\ []) do
    snowflakes = Keyword.get(opts, :snowflakes_as_strings, false) == true

    case Native.json_encode(term, snowflakes) do
      :reschedule -> Metrics.inc(:dirty, "json") && Native.json_encode_dirty(term, snowflakes) |> encoded()
      result -> encoded(result)
    end
  end

  defp encoded(bin) when is_binary(bin), do: bin

  defp encoded({:error, {reason, term}}),
    do: raise(ArgumentError, "cannot encode as JSON (#{reason}): #{inspect(term, limit: 10, printable_limit: 80)}")

  @doc "Decodes one JSON text."
  @spec decode(binary, keyword) :: {:ok, term} | {:error, {atom, non_neg_integer}}
  def decode(binary, opts \\ [])

  def decode(binary, opts) when is_binary(binary) do
    limits = Realtime.CodecLimits.to_tuple(opts, @limits)

    case Native.json_decode(binary, limits) do
      :reschedule -> Metrics.inc(:dirty, "json") && Native.json_decode_dirty(binary, limits)
      result -> result
    end
  end

  def decode(other, _opts), do: raise(ArgumentError, "expected a binary, got: #{inspect(other)}")
end
