defmodule Realtime.CodecLimits do
  @moduledoc """
  Reads the decoding limits that `Realtime.ETF.decode/2` and
  `Realtime.JSON.decode/2` accept as options, in the order their NIFs take
  them.
  """

  @doc """
  The values of `defaults`' keys taken from `opts` (or the default), as a
  tuple in `defaults`' order. Raises `ArgumentError` for a value that is not
  a non-negative integer.
  """
  @spec to_tuple(keyword, keyword(non_neg_integer)) :: tuple
  def to_tuple(opts, defaults) do
    defaults
    |> Enum.map(fn {key, default} ->
      case Keyword.get(opts, key, default) do
        n when is_integer(n) and n >= 0 -> n
        other -> raise ArgumentError, "#{key} must be a non-negative integer, got: #{inspect(other)}"
      end
    end)
    |> List.to_tuple()
  end
end
