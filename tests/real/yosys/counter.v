// A small design for the yosys test: an 8-bit counter with enable, synchronous reset, a wrap
// flag and a registered parity bit, enough to exercise carry chains, flip-flops and LUTs.
module counter (
    input  wire       clk,
    input  wire       rst,
    input  wire       en,
    output reg  [7:0] count,
    output reg        parity,
    output wire       wrap
);
    always @(posedge clk) begin
        if (rst) begin
            count <= 8'd0;
            parity <= 1'b0;
        end else if (en) begin
            count <= count + 8'd1;
            parity <= ^(count + 8'd1);
        end
    end
    assign wrap = en && count == 8'hff;
endmodule
