defmodule Realtime.Guild.Emoji do
  @moduledoc """
  The emoji of a reaction, as the REST path gives it: a Unicode emoji
  (`👍`, `🇫🇷`, `1️⃣`, `👩‍💻`), or a custom one as `name:id`. Pure.

  A Unicode emoji is accepted when it is one grapheme made only of emoji
  code points (the Extended_Pictographic blocks, skin-tone modifiers,
  regional-indicator flags, keycaps, ZWJ sequences, variation selectors and
  tag sequences) with at least one pictograph. That is the shape of
  Unicode's emoji list without carrying the list. Guilds have no custom
  emojis yet, so every `name:id` is unknown.
  """

  @type t :: %{String.t() => String.t() | nil}

  @doc "The reaction emoji object for a path segment, or `{:error, :unknown_emoji}`."
  @spec parse(String.t()) :: {:ok, t} | {:error, :unknown_emoji}
  def parse(segment) when byte_size(segment) in 1..64 do
    if String.valid?(segment) and unicode_emoji?(segment),
      do: {:ok, %{"id" => nil, "name" => segment}},
      else: {:error, :unknown_emoji}
  end

  def parse(_segment), do: {:error, :unknown_emoji}

  defp unicode_emoji?(s) do
    match?([_], String.graphemes(s)) and
      (keycap?(s) or (Enum.all?(String.to_charlist(s), &emoji_part?/1) and Enum.any?(String.to_charlist(s), &pictograph?/1)))
  end

  # 0-9, # or *, then an optional VS16, then the combining keycap.
  defp keycap?(<<c, rest::binary>>) when c in ?0..?9 or c in [?#, ?*], do: rest in ["\u20E3", "\uFE0F\u20E3"]
  defp keycap?(_), do: false

  defp emoji_part?(c), do: pictograph?(c) or c in [0x200D, 0xFE0F, 0xFE0E] or c in 0xE0020..0xE007F

  defp pictograph?(c) do
    c in 0x1F000..0x1FAFF or c in 0x2600..0x27BF or c in 0x2300..0x23FF or c in 0x2B00..0x2BFF or
      c in 0x2190..0x21FF or c in 0x25A0..0x25FF or c in 0x2934..0x2935 or
      c in [0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297, 0x3299]
  end
end
