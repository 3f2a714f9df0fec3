//! Live output to a canvas (the browser's `stylizeTo`): a transform net's output planes are
//! drawn straight into the canvas's WebGPU texture by a render pass, with the strength blend
//! and colour preservation done in the fragment shader (`present.wgsl`). Nothing is read back.
//!
//! [`PresentPipeline`] draws into any texture view and is tested natively against `stylize()`
//! (the unit test below); [`Presenter`] adds the canvas surface (browser only).

use crate::gpu::params::params;
use crate::gpu::GpuContext;
use crate::models::whole::Submitted;
#[cfg(target_arch = "wasm32")]
use crate::{Error, Result};

params! {
    /// The present shader's uniforms (see `present.wgsl`).
    pub(crate) struct Params {
        canvas: [u32; 2],
        photo: [u32; 2],
        plane: [u32; 2],
        strength: f32,
        preserve: u32,
        to_unit: f32,
        pad: [u32; 3],
    }
}

/// What to draw: a submitted net's output (with the padded photo it read), and how.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) struct Frame<'a> {
    pub(crate) run: &'a Submitted,
    pub(crate) strength: f32,
    pub(crate) preserve_colors: bool,
}

/// The render pipeline that draws a [`Frame`] into a texture of one format.
pub(crate) struct PresentPipeline {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    params: wgpu::Buffer,
    /// The bind group of the last frame's (output, pixels) buffers: the nets' plans keep them
    /// per size, so frames of one size reuse it.
    bind: std::sync::Mutex<Option<(wgpu::Buffer, wgpu::Buffer, wgpu::BindGroup)>>,
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl PresentPipeline {
    pub(crate) fn new(ctx: &GpuContext, format: wgpu::TextureFormat) -> Self {
        let device = ctx.device();
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("present.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("shaders/present.wgsl").into()),
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("present"),
            layout: None,
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("present.params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self {
            layout: pipeline.get_bind_group_layout(0),
            pipeline,
            params,
            bind: std::sync::Mutex::new(None),
        }
    }

    /// Draws `frame` into `view` (`width` x `height` pixels) and submits.
    pub(crate) fn draw(
        &self,
        ctx: &GpuContext,
        frame: &Frame,
        view: &wgpu::TextureView,
        width: u32,
        height: u32,
    ) {
        let p = Params {
            canvas: [width, height],
            photo: [frame.run.size.0 as u32, frame.run.size.1 as u32],
            plane: [frame.run.padded.0 as u32, frame.run.padded.1 as u32],
            strength: frame.strength,
            preserve: frame.preserve_colors as u32,
            to_unit: frame.run.to_unit,
            pad: [0; 3],
        };
        let device = ctx.device();
        ctx.queue()
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
        let mut cached = self.bind.lock().unwrap_or_else(|p| p.into_inner());
        let (out, px) = (frame.run.output.buffer(), frame.run.pixels.buffer());
        if !matches!(&*cached, Some((o, p, _)) if o == out && p == px) {
            let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("present"),
                layout: &self.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: self.params.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: out.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: px.as_entire_binding(),
                    },
                ],
            });
            *cached = Some((out.clone(), px.clone(), bind));
        }
        let bind = &cached.as_ref().expect("set above").2;
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("present"),
        });
        {
            let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("present"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, bind, &[]);
            pass.draw(0..3, 0..1);
        }
        ctx.queue().submit([enc.finish()]);
    }
}

/// A canvas configured for the engine's device, and the pipeline that draws into it.
#[cfg(target_arch = "wasm32")]
pub(crate) struct Presenter {
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    pipeline: PresentPipeline,
}

#[cfg(target_arch = "wasm32")]
impl Presenter {
    /// Configures `target` (an HTMLCanvasElement or OffscreenCanvas) for WebGPU output.
    pub(crate) fn new(ctx: &GpuContext, target: wgpu::SurfaceTarget<'static>) -> Result<Self> {
        let surface = ctx.instance.create_surface(target).map_err(|e| Error::InvalidArgument {
            op: "stylizeTo",
            message: format!("cannot draw into this canvas with WebGPU ({e}); pass a canvas that has no 2d or webgl context yet"),
        })?;
        let caps = surface.get_capabilities(&ctx.raw_adapter);
        // A linear format: the planes are already sRGB-encoded values.
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| !f.is_srgb())
            .ok_or_else(|| Error::InvalidArgument {
                op: "stylizeTo",
                message: format!(
                    "the canvas offers no linear colour format ({:?})",
                    caps.formats
                ),
            })?;
        let alpha_mode = if caps.alpha_modes.contains(&wgpu::CompositeAlphaMode::Opaque) {
            wgpu::CompositeAlphaMode::Opaque
        } else {
            caps.alpha_modes
                .first()
                .copied()
                .unwrap_or(wgpu::CompositeAlphaMode::Auto)
        };
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            width: 0,
            height: 0,
            present_mode: wgpu::PresentMode::Fifo,
            desired_maximum_frame_latency: 2,
            alpha_mode,
            view_formats: vec![],
            color_space: wgpu::SurfaceColorSpace::Auto,
        };
        Ok(Self {
            surface,
            config,
            pipeline: PresentPipeline::new(ctx, format),
        })
    }

    /// Draws `frame` into the canvas, which is `width` x `height` pixels (reconfigured when
    /// that changes); ordered after the net's submission.
    pub(crate) fn present(
        &mut self,
        ctx: &GpuContext,
        frame: &Frame,
        width: u32,
        height: u32,
    ) -> Result<()> {
        let (width, height) = (width.max(1), height.max(1));
        if (self.config.width, self.config.height) != (width, height) {
            self.config.width = width;
            self.config.height = height;
            self.surface.configure(ctx.device(), &self.config);
        }
        let texture = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t)
            | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            // Not the caller's mistake: the browser could not present here (headless
            // Chromium on SwiftShader fails every WebGPU canvas this way).
            other => {
                return Err(Error::Gpu {
                    op: "stylizeTo".into(),
                    message: format!("the canvas gave no texture to draw into ({other:?}); this browser cannot present WebGPU canvases here, use stylize() instead"),
                })
            }
        };
        let view = texture
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        self.pipeline.draw(ctx, frame, &view, width, height);
        ctx.queue().present(texture);
        Ok(())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::{Frame, PresentPipeline};
    use crate::gpu::GpuContext;
    use crate::image::Rgba8Image;
    use crate::models::{ModelFile, MultiStyle26, OutputOptions, StyleWeights};

    /// The live path's drawing (the fragment shader's sampling, strength blend and colour
    /// preservation) gives the pixels `stylize()` composes on the CPU, up to rounding.
    #[test]
    fn drawing_a_frame_matches_stylize() {
        pollster::block_on(async {
            let ctx = GpuContext::new().await.expect("a GPU adapter");
            let dir = env!("CARGO_MANIFEST_DIR");
            let bytes = std::fs::read(format!("{dir}/models/multistyle26.safetensors"))
                .expect("run scripts/setup.sh to convert the models");
            let net = MultiStyle26::load(&ctx, &ModelFile::parse(&bytes).unwrap()).unwrap();
            let png = std::fs::read(format!("{dir}/tests/fixtures/arbitrary/coffee_blend.png"));
            let photo = Rgba8Image::decode(&png.unwrap()).unwrap().crop(90, 61);
            let pipeline = PresentPipeline::new(&ctx, wgpu::TextureFormat::Rgba8Unorm);
            for (strength, preserve_colors) in [(1.0, false), (0.6, true)] {
                let style = StyleWeights::parse("3:0.5,12:0.5").unwrap();
                let opts = OutputOptions {
                    strength,
                    preserve_colors,
                    ..OutputOptions::default()
                };
                let want = net.stylize(&ctx, &photo, &style, &opts).await.unwrap();
                let styled = crate::models::Styled::MultiStyle(&net, &style);
                let run = styled.submit(&ctx, &photo, 0).await.unwrap();
                let (w, h) = (photo.width as u32, photo.height as u32);
                let texture = ctx.device().create_texture(&wgpu::TextureDescriptor {
                    label: Some("canvas"),
                    size: wgpu::Extent3d {
                        width: w,
                        height: h,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: wgpu::TextureFormat::Rgba8Unorm,
                    usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
                    view_formats: &[],
                });
                let view = texture.create_view(&Default::default());
                let frame = Frame {
                    run: &run,
                    strength,
                    preserve_colors,
                };
                pipeline.draw(&ctx, &frame, &view, w, h);
                // Read the texture back (rows padded to 256 bytes).
                let row = (w * 4).next_multiple_of(256);
                let buf = ctx.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("canvas.readback"),
                    size: (row * h) as u64,
                    usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                    mapped_at_creation: false,
                });
                let mut enc = ctx.device().create_command_encoder(&Default::default());
                enc.copy_texture_to_buffer(
                    texture.as_image_copy(),
                    wgpu::TexelCopyBufferInfo {
                        buffer: &buf,
                        layout: wgpu::TexelCopyBufferLayout {
                            offset: 0,
                            bytes_per_row: Some(row),
                            rows_per_image: Some(h),
                        },
                    },
                    texture.size(),
                );
                ctx.queue().submit([enc.finish()]);
                buf.slice(..).map_async(wgpu::MapMode::Read, |r| r.unwrap());
                ctx.device()
                    .poll(wgpu::PollType::wait_indefinitely())
                    .unwrap();
                let data = buf.slice(..).get_mapped_range().unwrap().to_vec();
                let mut max = 0u8;
                let mut sum = 0u64;
                for y in 0..h as usize {
                    for x in 0..w as usize {
                        for c in 0..3 {
                            let got = data[y * row as usize + x * 4 + c];
                            let exp = want.data[(y * w as usize + x) * 4 + c];
                            max = max.max(got.abs_diff(exp));
                            sum += got.abs_diff(exp) as u64;
                        }
                    }
                }
                let mean = sum as f64 / (3 * w * h) as f64;
                println!("present vs stylize (strength {strength}, colours {preserve_colors}): mean {mean:.3}, max {max}");
                assert!(max <= 1 && mean < 0.2, "mean {mean}, max {max}");
            }
        });
    }
}
