"""RTP and RTCP packets as real endpoints put them on the wire, as hex, for the parser tests.

Provenance (public test captures, bytes only):
- PCMU_172: a 20 ms PCMU packet of silence from a browser (aiortc's test corpus, rtp.bin).
- PCMA_30MS: six consecutive 30 ms PCMA packets of speech from SIPp's `pcap/g711a.pcap`, the audio
  SIPp's UAS scenarios play (so a SIPp peer really sends ptime 30).
- SIPP_DTMF_1: digit "1" as SIPp's `pcap/dtmf_2833_1.pcap` plays it: marker on the first packet,
  PT 101, then the end packet three times, all three with the same sequence number.
- BROWSER_DTMF_END: an RFC 4733 end packet with the marker bit (aiortc's rtp_dtmf.bin).
- WITH_CSRC, WITH_EXTENSION, PADDING_AND_EXTENSION: CSRC list, RFC 8285 one-byte extension
  (0xBEDE), padding (aiortc's rtp_with_csrc.bin, rtp_with_sdes_mid.bin,
  rtp_only_padding_with_header_extensions.bin).
- RTCP_SR, RTCP_RR, RTCP_SDES, RTCP_BYE: RTCP from a browser (aiortc's rtcp_*.bin).
- ALL_OPTIONS is written by hand from RFC 3550 §5.1, since no capture combines CSRC, extension and
  padding in one packet: V=2 P=1 X=1 CC=2, M=1 PT=0, seq 0x1234, ts 0x00012345, SSRC 0xDEADBEEF,
  CSRCs 0x11111111 and 0x22222222, extension 0xBEDE of one word, 8 bytes of PCMU, 4 bytes of padding.
"""

from __future__ import annotations


def _hex(*chunks: str) -> bytes:
    return bytes.fromhex(" ".join(chunks))


PCMU_172 = _hex("80003d7feaaa63f4f01b40e9" + "ff" * 160)

SIPP_DTMF_1 = (
    _hex("80e51f30000033e00e05384e010a0000"),
    _hex("80651f31000033e00e05384e010a0140"),
    _hex("80651f32000033e00e05384e010a0280"),
    _hex("80651f33000033e00e05384e010a03c0"),
    _hex("80651f34000033e00e05384e010a0500"),
    _hex("80651f35000033e00e05384e010a0640"),
    _hex("80651f36000033e00e05384e010a0780"),
    _hex("80651f37000033e00e05384e018a08c0"),
    _hex("80651f37000033e00e05384e018a08c0"),
    _hex("80651f37000033e00e05384e018a08c0"),
)
"""Captured 20 ms apart, except the three end packets, which SIPp sends back to back."""

BROWSER_DTMF_END = _hex("80e55e58efb0f6bca6a144f2018a03c0")

WITH_CSRC = _hex("82003ed2000000905fbd169eabcdef01deadbeef" + "ff" * 160)

WITH_EXTENSION = _hex(
    "90ef374c4f1ba1adf3753f70bede00019030000078800a6dc705f7a2a43c1800066eab3c78aeb1524d8baae"
    "baa791e80fbabad9ef92bcce3e2a1105f56337eac43fedb785bf417f29455"
)

PADDING_AND_EXTENSION = _hex("b062567abd029f83597eaf6dbede000122f1cc8c" + "00" * 223 + "e0")

ALL_OPTIONS = _hex(
    "b2 80 1234 00012345 deadbeef",  # V=2 P X CC=2 | M PT=0 | seq | ts | SSRC
    "11111111 22222222",  # CSRC list
    "bede 0001 10ab0000",  # extension: profile 0xBEDE, 1 word
    "fffefdfc7f7e7d7c",  # payload: 8 PCMU samples
    "000000 04",  # padding: 3 zeros and the count
)

RTCP_SR = _hex(
    "81c8000c6d2453eade46475b151a005c66a8dd3e0000010d000034f58ef891ed00000000000000f6000000"
    "7f0000000000000000"
)
RTCP_RR = _hex("81c9000730b68407479437af0000000000000276000007720000000000000000")
RTCP_SDES = _hex(
    "81ca000c6d2453ea01267b36336634353965612d343166652d343437342d396433332d393730376339656537"
    "3964317d00000000"
)
RTCP_BYE = _hex("81cb0001ae528b43")

PCMA_30MS = (
    _hex(
        "8008e720000021c0dee0ee8f5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
        "5ad55a5a5a5a5a5a5a5a5a5a5a5a5ad5d55a5ad55a5ad55a5ad55ad5d5d5d55ad5d55ad5d5d5d5d5d5d5d5d5"
        "d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5c5d5d5c5d5c5c5d5c5d5f5c55af5c54af5fd7ae5d5c5d5c5c5d5f5"
        "5ae55ac5fdd5f5f5d5c5f5d5c5f5c5c5d5f5c5c5c5c5c5f5c5c5e5c55afde5f5d5c5fdf5c5c5f5f5f5c5f5fd"
        "c5c5fdc5c5f5c5c5f5f5c5d5c5fdc5c5c5c5fdf5f5f5c5fdfdf5f5f5fdf5f5f5f5f5f5c5f5f5c5c5f5f5f5c5"
        "c5f5f5f5f5c5c5f5f5f5f5c5c5f5f5f5c5c5c5c5f5f5c5c5f5f5c5c5c5c5f5f5"
    ),
    _hex(
        "8008e721000022b0dee0ee8fc5c5f5f5f5f5c5c5c5f5c5c5f5f5c5f5f5c5c5f5f5f5f5f5c5f5f5f5f5c5f5f5"
        "f5f5c5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5c5c5c5c5c5c5c5c5c5c5c5f5c5c5c5c5c5c5c5c5c5c5c5c5"
        "c5c5c5c5c5c5d5d5d5d5d5d5d5d5d5d5d55a5a5a5a5a5a5a5a5a4a5a5a5a5a5a4a4a5a4a4a4a4a4a4a727272"
        "7272727272727272727272727a7a7a7a7a7a7a7a7a7a7a666666666666666666666662626262626262626262"
        "626262626262626262626e6e6e626e626e6e6e6e6e6e6e6e6e6a6a6e6a6a6a6a6a6a6a6a6a6a6e6a6e6e6e6a"
        "6e6a6e6e6a6a6a6a6a6e6a6a6e6a6a6a6a6a6a6a6a6a6a6a6e6a6a6a6a6e6e6e"
    ),
    _hex(
        "8008e722000023a0dee0ee8f6e6e6e6e6e6e6e6e6e6262626262626262626262626262626262626666666666"
        "66667a7a7a7a7a7a7a7a7a727a724a72724a727272724a5a724a5a4a4a5a5a5a5a5a5ad55a5ad5d5d5d5d5d5"
        "c5c5c5c5c5c5c5c5f5f5d5f5f5f5f5f5fdc5f5fdfdfdfdfdfdfdfde5e5fde5e5e5fde5e5e5e5e5e1e5e5e1e1"
        "e5e1e1e1e1e1e1e1e1e1e1e1e1edede1e1ededededede1e1ede1e1ededededededededededededededededed"
        "e1e1ede1e1edede1edede1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e5e1e1e5e5e5e5e5e5e5e5e5e5e5"
        "e5e5e5e5e5e5fdfde5fde5e5fdfdfdfdfdfdfdfdfdfdfdfdfdfdfdfdf5f5f5f5"
    ),
    _hex(
        "8008e72300002490dee0ee8ff5f5f5f5f5f5f5f5f5f5f5f5c5c5f5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5d5c5"
        "c5c5c5d5d5d5d5d5d5d5d5d5d5d5d55a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a4a4a4a4a4a4a4a4a4a"
        "4a4a4a4a4a4a4a4a4a4a4a4a724a727272727272724a727272727272724a4a72727272727272727272727272"
        "7272727272727272727272727272727272727272727272727272727272727272727272727272727272727272"
        "72727272724a7272724a4a4a724a4a4a4af5e9e9fd7a624ac5fdd54a725ac5c5d55a4a4ad5d55a4a4a4ad5d5"
        "d5d55ad5d5d5d55a4a5ad5d55a5ad55a5a4a5a5a4a4a5a5a4a4a4a4a5a5a5a5a"
    ),
    _hex(
        "8008e72400002580dee0ee8f5a5a5a4a4a5a5a5ad5d55a5a4a5a5a4a4a4a5af5e1c5c55a5ac5d5d54a5ac5d5"
        "d55ad5d5d55a5ad5d5d5d5c5c5d5c5d5d5d55ac5c5c5c5c5f5c5c5c5f5c5c5f5c5d5d55ad5d5d5c5c5f5c5d5"
        "d5c5c5c5d55ad5c5d5d5c5c5c5c5d5d5c5f5c5d5f5fde5fdc5c5fdf5f5f5f5f5f5f5f5f5f5f5c5c5c5f5f5c5"
        "c5f5f5c5f5f5f5fde5f5f5f5f5c5c5f5f5f5fdf5f5f5d5d55a5ad5c5c5d5f5fdc5d5d55ad5c5c5d5d5d5d55a"
        "d5d55ad5d5d5d5d55a5a5a4a5a5ad55a5a4a5ad55a4a5ad55a5a4a4a4a5a4a4a4a5a5a4a4a72724a4a4a5a5a"
        "5a5a5a4a4a724a4a4a5a5a4a724a4a4a4a4a727272727272724a4a4a4a72724a"
    ),
    _hex(
        "8008e72500002670dee0ee8f724a4a5a5a7272727272724a5a4a727272727a7a7a725a5a5a5a4a4a727a7a72"
        "724a5a72727272724a4a7a724a4a4a4a7272724a72727272727272724a724a4a727a72727272727a7a4a7272"
        "4a5a4a4a4a7272724a4a4a4a72724a4a4a4a727272724a4a724a4a4a5a4a72724a4a4a4a724a4a5a4a4a4a4a"
        "4a4a4a4a724a4a4a4a4a4a4a4a5a5a5a4a4a5a5a5a5a4a4a4a4a5ad5d55a5a4a4ad5d5d55a5a5a5a4a4ad55a"
        "5a5a4a5ad5c54a4a5a5a5ad55a5ad55a5a4a5a5a5a5a5ad55ad5d5d5d5d5d55ad5d55a5ad55ad5d5d5c5d5d5"
        "5a5ad5d5d55a5ad5c5d55a5a5ad5c5c5d5d5d5d5d55a5ad5d5d5d5d5d55a5ad5"
    ),
)
"""SIPp g711a.pcap packets 36-41: PT 8, 240 samples each, sequence 0xE720 on, SSRC 0xDEE0EE8F."""
